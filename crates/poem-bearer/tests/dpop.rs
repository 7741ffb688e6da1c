//! DPoP through the guard with a replay cache the app chose: a proof works once, and a
//! full cache answers 503 with `Retry-After: 1` rather than accept a proof unrecorded.

use std::sync::Arc;

use poem::{http::StatusCode, test::TestClient};
use poem_bearer::replay::MemoryReplayCache;

#[path = "support/dpop_api.rs"]
mod dpop_api;

use dpop_api::{ProofKey, app, keys, token};

#[tokio::test]
async fn a_full_proof_cache_answers_503_and_never_accepts_a_proof_unrecorded() {
    let keys = keys();
    let client = TestClient::new(app(keys.clone(), Arc::new(MemoryReplayCache::new(1))).await);
    let proof_key = ProofKey::new();
    let token = token(&keys, Some(proof_key.jkt.clone()));
    let write = |proof: String| {
        client
            .post("/notes")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    write(proof_key.proof(&token, "one"))
        .await
        .assert_status_is_ok();
    let full = write(proof_key.proof(&token, "two")).await;
    full.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    full.assert_header("retry-after", "1");
    // Nothing was recorded for "two", and "one" is still remembered.
    write(proof_key.proof(&token, "one"))
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}
