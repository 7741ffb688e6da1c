//! A protected write through the guard, in process (poem's router, no network): with a
//! Bearer token, and with a DPoP-bound token and its proof (EdDSA). The proofs are signed
//! beforehand (a client's cost, not the server's); each has its own `jti`, so every
//! iteration also records one in the replay cache.
//!
//! cargo bench -p poem-bearer --bench dpop

use std::{hint::black_box, sync::Arc};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use poem::{Endpoint, Request, http::Method};
use poem_bearer::replay::MemoryReplayCache;

#[path = "../tests/support/dpop_api.rs"]
mod dpop_api;

use dpop_api::{ProofKey, app, keys, token};

fn guard(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let keys = keys();
    let app = runtime.block_on(app(
        keys.clone(),
        Arc::new(MemoryReplayCache::new(usize::MAX)),
    ));
    let proof_key = ProofKey::new();
    let bearer = token(&keys, None);
    let bound = token(&keys, Some(proof_key.jkt.clone()));
    let mut counter = 0u64;
    let mut proof = || {
        counter += 1;
        proof_key.proof(&bound, &counter.to_string())
    };
    let request = |scheme: &str, token: &str, proof: Option<String>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/notes".parse().unwrap())
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.finish()
    };

    let app = &app;
    let mut group = c.benchmark_group("protected write");
    group.bench_function("Bearer", |b| {
        b.to_async(&runtime).iter_batched(
            || request("Bearer", &bearer, None),
            |request| async move { black_box(app.call(request).await.unwrap().status()) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("DPoP (EdDSA proof)", |b| {
        b.to_async(&runtime).iter_batched(
            || request("DPoP", &bound, Some(proof())),
            |request| async move {
                let status = app.call(request).await.unwrap().status();
                assert!(status.is_success(), "{status}");
                black_box(status)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
