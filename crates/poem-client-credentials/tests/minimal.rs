//! The `minimal` example, run as it is: a client gets a token at the API's own token
//! endpoint and writes with it; a wrong secret, a missing token and a throttled source
//! get the answers RFC 6749 and RFC 6750 prescribe.

#[allow(dead_code)]
#[path = "../examples/minimal.rs"]
mod example;

use poem::{http::StatusCode, test::TestClient};

const KEY: &str = "a test HS256 key of at least thirty-two bytes";

async fn token_request(
    client: &TestClient<impl poem::Endpoint>,
    secret: &str,
) -> poem::test::TestResponse {
    client
        .post("/auth/token")
        .header("authorization", basic("demo", secret))
        .content_type("application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
}

fn basic(id: &str, secret: &str) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD};
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

#[tokio::test]
async fn a_client_gets_a_token_and_writes_with_it() {
    let client = TestClient::new(example::app(KEY, "demo-secret").await.unwrap());
    let response = token_request(&client, "demo-secret").await;
    response.assert_status_is_ok();
    response.assert_header("cache-control", "no-store");
    let body = response.json().await;
    let body = body.value().object();
    body.get("token_type").assert_string("Bearer");
    body.get("scope").assert_string("notes:write");
    body.get("expires_in").assert_i64(300);
    let token = body.get("access_token").string().to_owned();

    let response = client
        .post("/notes")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_text("created by demo").await;

    let response = client.post("/notes").send().await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    response.assert_header("www-authenticate", "Bearer realm=\"notes\"");
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client_and_ten_of_them_throttle_the_source() {
    let client = TestClient::new(example::app(KEY, "demo-secret").await.unwrap());
    let response = token_request(&client, "wrong").await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    response.assert_header("www-authenticate", "Basic realm=\"notes\"");
    response.assert_header("cache-control", "no-store");
    response
        .assert_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": "Client authentication failed"
        }))
        .await;
    // The default budget is 10 failures per 60 s; the 11th is withheld.
    for _ in 1..10 {
        token_request(&client, "wrong")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let response = token_request(&client, "demo-secret").await;
    response.assert_status(StatusCode::TOO_MANY_REQUESTS);
    response.assert_header("cache-control", "no-store");
    let retry_after: u64 = response.0.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    response
        .assert_json(serde_json::json!({
            "error": "too_many_requests",
            "error_description":
                "Too many failed client authentications from this address; retry later"
        }))
        .await;
}
