//! The in-memory revocation set every write consults: how much memory 100,000 live
//! revocations take (measured in this process, printed before the timings), and what a
//! lookup costs with none held and with 100,000.
//!
//! cargo bench -p poem-client-credentials --bench revocations

use std::hint::black_box;

use criterion::Criterion;
use poem_client_credentials::revocation::{Revocation, RevocationSet};

const HELD: usize = 100_000;

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

/// `HELD` revocations of UUID `jti`s, spread over 100 clients as the per-client cap
/// (10,000 by default) allows.
fn filled() -> RevocationSet {
    let set = RevocationSet::new();
    for i in 0..HELD {
        let jti = uuid::Uuid::new_v4().to_string();
        let client = format!("client-{:03}", i % 100);
        let revocation = Revocation {
            jti: &jti,
            client_id: Some(&client),
            until: 10_000 + (i as u64 % 3_600),
        };
        set.insert(revocation, 1_000);
    }
    set
}

fn main() {
    let before = resident_bytes();
    let set = filled();
    let after = resident_bytes();
    println!(
        "revocation set: {HELD} live revocations, {:.1} MiB resident, {} bytes each",
        (after - before) as f64 / (1024.0 * 1024.0),
        (after - before) / HELD as u64
    );
    let mut criterion = Criterion::default().configure_from_args();
    let token_jti = uuid::Uuid::new_v4().to_string();
    let empty = RevocationSet::new();
    criterion.bench_function("is_revoked, none held", |b| {
        b.iter(|| empty.contains(black_box(&token_jti)))
    });
    criterion.bench_function("is_revoked, 100,000 held (a miss)", |b| {
        b.iter(|| set.contains(black_box(&token_jti)))
    });
    criterion.final_summary();
}
