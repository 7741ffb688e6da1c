//! The `resource_server` example, run as it is: an API trusting an issuer found by its
//! discovery URL, answering a write with a token, without one, and with the wrong scope.

mod common;

#[allow(dead_code)]
#[path = "../examples/resource_server.rs"]
mod example;

use poem::test::{TestClient, TestResponse};

use common::{Issuer, key, token};

/// `POST /notes` with `token` as its Bearer credentials.
async fn post_note(client: &TestClient<impl poem::Endpoint>, token: &str) -> TestResponse {
    client
        .post("/notes")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
}

#[tokio::test]
async fn the_example_accepts_its_issuers_tokens_with_the_scope_it_needs() {
    let signing = key("k1");
    // The issuer identifier is the test server's own URL, as the example derives the
    // discovery URL from it.
    let issuer = Issuer::start("", vec![signing.jwk.clone()]).await;
    *issuer.state.issuer.lock().unwrap() = issuer.base.clone();
    let client = TestClient::new(example::app(&issuer.base, "notes").await.unwrap());

    let response = post_note(
        &client,
        &token(&signing, &issuer.base, "notes", "notes:write"),
    )
    .await;
    response.assert_status_is_ok();
    response.assert_text("created by svc").await;

    let response = client.post("/notes").send().await;
    response.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    response.assert_header("www-authenticate", "Bearer realm=\"notes\"");

    let response = post_note(
        &client,
        &token(&signing, &issuer.base, "notes", "notes:read"),
    )
    .await;
    response.assert_status(poem::http::StatusCode::FORBIDDEN);
    response.assert_header(
        "www-authenticate",
        "Bearer realm=\"notes\", error=\"insufficient_scope\", scope=\"notes:write\"",
    );
    response
        .assert_json(serde_json::json!({
            "error": "insufficient_scope",
            "error_description": "The access token does not allow this operation"
        }))
        .await;
}

/// Auth0's issuer identifier ends with `/`: the example's discovery URL must not double it.
#[tokio::test]
async fn an_issuer_with_a_trailing_slash_is_found_by_its_discovery_url() {
    let signing = key("k1");
    let issuer = Issuer::start("", vec![signing.jwk.clone()]).await;
    let with_slash = format!("{}/", issuer.base);
    *issuer.state.issuer.lock().unwrap() = with_slash.clone();
    let client = TestClient::new(example::app(&with_slash, "notes").await.unwrap());
    let response = post_note(
        &client,
        &token(&signing, &with_slash, "notes", "notes:write"),
    )
    .await;
    response.assert_status_is_ok();
}
