//! `private_key_jwt` through the endpoint, with the replay cache an app chooses: a client
//! registered with a public key gets a token; its assertion works once; a full cache
//! refuses with 503 rather than accept a `jti` it could not record.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{EndpointExt, Route, http::StatusCode, test::TestClient};
use poem_bearer::{
    keys::{KeyConfig, KeyMaterial, KeySet},
    replay::MemoryReplayCache,
    token::now_seconds,
};
use poem_client_credentials::{
    ClientDirectory, ClientRegistry, ClientSettings, TokenApi, TokenEndpoint, TokenIssuer,
    assertion::CLIENT_ASSERTION_TYPE,
};
use poem_openapi::OpenApiService;

const ISSUER: &str = "https://as.example";

fn client_key() -> (EncodingKey, serde_json::Value) {
    use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let jwk = serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap());
    (key, jwk.unwrap())
}

fn app(jwk: serde_json::Value, replay_capacity: usize) -> impl poem::Endpoint {
    let settings: ClientSettings = serde_json::from_value(serde_json::json!({
        "client_id": "daemon", "jwks": { "keys": [jwk] }, "scopes": ["write"],
    }))
    .unwrap();
    let clients = Arc::new(ClientDirectory::new(ClientRegistry::new(&[settings
        .load(&[])
        .unwrap()])));
    let keys = KeySet::new(
        &KeyConfig {
            key_id: None,
            material: KeyMaterial::Hmac("a test HS256 key of at least thirty-two bytes".into()),
        },
        &[],
    )
    .unwrap();
    let endpoint =
        TokenEndpoint::builder(clients, TokenIssuer::new(Arc::new(keys), ISSUER, "api", 60))
            .public_url("https://api.example")
            .replay_cache(Arc::new(MemoryReplayCache::new(replay_capacity)))
            .build()
            .unwrap();
    Route::new()
        .nest("/", OpenApiService::new(TokenApi, "t", "1"))
        .data(endpoint)
}

fn assertion(key: &EncodingKey, aud: &str, jti: &str) -> String {
    let now = now_seconds();
    let claims = serde_json::json!({
        "iss": "daemon", "sub": "daemon", "aud": aud, "exp": now + 60, "jti": jti,
    });
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key).unwrap()
}

async fn grant(
    client: &TestClient<impl poem::Endpoint>,
    assertion: &str,
) -> poem::test::TestResponse {
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
        CLIENT_ASSERTION_TYPE.replace(':', "%3A")
    );
    client
        .post("/auth/token")
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

#[tokio::test]
async fn an_assertion_gets_a_token_once() {
    let (key, jwk) = client_key();
    let client = TestClient::new(app(jwk, 100));
    for aud in [ISSUER, "https://api.example/auth/token"] {
        let response = grant(&client, &assertion(&key, aud, aud)).await;
        response.assert_status_is_ok();
        response
            .json()
            .await
            .value()
            .object()
            .get("scope")
            .assert_string("write");
    }
    let replayed = grant(&client, &assertion(&key, ISSUER, ISSUER)).await;
    replayed.assert_status(StatusCode::UNAUTHORIZED);
    let body = replayed.json().await;
    body.value()
        .object()
        .get("error")
        .assert_string("invalid_client");
    body.value()
        .object()
        .get("error_description")
        .assert_string("The client assertion was replayed: its jti has been used");
}

#[tokio::test]
async fn a_full_replay_cache_answers_503_and_records_nothing() {
    let (key, jwk) = client_key();
    let client = TestClient::new(app(jwk, 1));
    grant(&client, &assertion(&key, ISSUER, "first"))
        .await
        .assert_status_is_ok();
    let response = grant(&client, &assertion(&key, ISSUER, "second")).await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header("retry-after", "1");
    let body = response.json().await;
    body.value()
        .object()
        .get("error")
        .assert_string("temporarily_unavailable");
    // The entry it holds is kept: a full cache never forgets one to make room.
    grant(&client, &assertion(&key, ISSUER, "first"))
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}
