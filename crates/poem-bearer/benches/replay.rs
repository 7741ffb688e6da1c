//! The in-memory replay cache: what recording an identifier costs, and how much memory a
//! million live entries take (measured in this process, printed before the timings).
//!
//! cargo bench -p poem-bearer --bench replay

use std::hint::black_box;

use criterion::Criterion;
use poem_bearer::replay::MemoryReplayCache;

/// This process's resident set, in bytes (Linux), or 0.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_of_a_million_entries() {
    const ENTRIES: usize = 1_000_000;
    let before = resident_bytes();
    let cache = MemoryReplayCache::new(ENTRIES);
    for i in 0..ENTRIES {
        // DPoP-style scopes (a 43-character thumbprint) and UUID-sized ids.
        let id = format!("{i:036}");
        cache
            .record_at(
                "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
                &id,
                2_000,
                1_000,
            )
            .unwrap();
    }
    let after = resident_bytes();
    println!(
        "replay cache: {ENTRIES} entries, {:.1} MiB resident, {} bytes per entry",
        (after - before) as f64 / (1024.0 * 1024.0),
        (after - before) / ENTRIES as u64
    );
    black_box(cache);
}

fn main() {
    memory_of_a_million_entries();
    let mut criterion = Criterion::default().configure_from_args();
    let cache = MemoryReplayCache::new(usize::MAX);
    let mut i = 0u64;
    criterion.bench_function("record a new jti (cache of growing size)", |b| {
        b.iter(|| {
            i += 1;
            cache.record_at("client", &i.to_string(), u64::MAX, 1_000)
        })
    });
    let cache = MemoryReplayCache::new(usize::MAX);
    cache.record_at("client", "seen", u64::MAX, 1_000).unwrap();
    criterion.bench_function("refuse a replayed jti", |b| {
        b.iter(|| cache.record_at("client", black_box("seen"), u64::MAX, 1_000))
    });
    criterion.final_summary();
}
