//! `private_key_jwt` (RFC 7523 §2.2): clients registered with public keys authenticate
//! with a JWT they sign; every refusal is 401 `invalid_client`, and a `jti` works once.

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use players_api::auth::token::now_seconds;
use serde_json::{Value, json};

use crate::helpers::*;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SIGNER: &str = "signer";

/// A client's key pair, generated for the test.
pub struct ClientKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: EncodingKey,
    pub jwk: Value,
}

pub fn client_key(alg: Algorithm, kid: Option<&str>) -> ClientKey {
    use aws_lc_rs::{
        encoding::AsDer,
        rand::SystemRandom,
        rsa::{KeyPair, KeySize},
        signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
            Ed25519KeyPair,
        },
    };
    let rng = SystemRandom::new();
    let key = match alg {
        Algorithm::EdDSA => {
            EncodingKey::from_ed_der(Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap().as_ref())
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let curve = if alg == Algorithm::ES256 {
                &ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &ECDSA_P384_SHA384_FIXED_SIGNING
            };
            EncodingKey::from_ec_der(EcdsaKeyPair::generate_pkcs8(curve, &rng).unwrap().as_ref())
        }
        _ => {
            let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
            let der = pair.as_der().unwrap();
            let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
        }
    };
    let mut jwk: Value = serde_json::to_value(Jwk::from_encoding_key(&key, alg).unwrap()).unwrap();
    if let Some(kid) = kid {
        jwk["kid"] = kid.into();
    }
    ClientKey {
        kid: kid.map(str::to_owned),
        alg,
        key,
        jwk,
    }
}

/// A `[[default.clients]]` entry for `client_id` holding `jwks` (public JWKs) and `more`
/// TOML lines.
pub fn key_client(client_id: &str, jwks: &[&Value], more: &str) -> String {
    let keys: Vec<String> = jwks.iter().map(|jwk| inline(jwk)).collect();
    format!(
        "[[default.clients]]\nclient_id = \"{client_id}\"\njwks = {{ keys = [{}] }}\n{more}\n",
        keys.join(", ")
    )
}

/// A JSON object as a TOML inline table.
fn inline(value: &Value) -> String {
    let members: Vec<String> = value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", members.join(", "))
}

/// The claims of a good assertion of `client` for the test issuer.
pub fn claims(client: &str) -> Value {
    let now = now_seconds();
    json!({
        "iss": client, "sub": client, "aud": ISSUER,
        "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = key.kid.clone();
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

/// A token request authenticated by `assertion`, with more form fields.
async fn grant(app: &TestApp, assertion: &str, more: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(more);
    app.post_token_form(&form).await
}

async fn refused(app: &TestApp, assertion: &str) -> String {
    let response = grant(app, assertion, &[]).await;
    let challenge = header(response.headers(), "www-authenticate").map(str::to_owned);
    let body = oauth_error(response, 401, "invalid_client").await;
    assert_eq!(
        challenge.as_deref(),
        Some("Basic realm=\"players\""),
        "{body}"
    );
    body["error_description"].as_str().unwrap().to_owned()
}

const GENERIC: &str = "Client authentication failed";

#[tokio::test]
async fn every_supported_algorithm_authenticates_a_client_whose_token_then_writes() {
    let keys: Vec<ClientKey> = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::PS256,
    ]
    .into_iter()
    .map(|alg| {
        let mut key = client_key(alg, Some(&format!("{alg:?}")));
        key.jwk["alg"] = format!("{alg:?}").into();
        key
    })
    .collect();
    let jwks: Vec<&Value> = keys.iter().map(|k| &k.jwk).collect();
    let app = spawn_app_with(&key_client(SIGNER, &jwks, "scopes = [\"players:create\"]")).await;
    for (index, key) in keys.iter().enumerate() {
        let response = grant(&app, &sign(key, &claims(SIGNER)), &[("client_id", SIGNER)]).await;
        assert_eq!(response.status(), 200, "{:?}", key.alg);
        assert_eq!(
            header(response.headers(), "cache-control"),
            Some("no-store")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "players:create");
        let token = body["access_token"].as_str().unwrap();
        let created = app
            .create_player(token, &player_body(40 + index as i64))
            .await;
        assert_eq!(created.status(), 201, "{:?}", key.alg);
    }
    // JSON bodies carry assertions too.
    let response = app
        .http
        .post(app.token_url())
        .json(&json!({
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": sign(&keys[0], &claims(SIGNER)),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_and_only_claim_checks_are_named() {
    let key = client_key(Algorithm::EdDSA, None);
    // More refusals than the default throttle allows from one address.
    let app = spawn_app_with(&format!(
        "{}[default.throttle]\nmax_failures = 100\n",
        key_client(SIGNER, &[&key.jwk], "")
    ))
    .await;
    let good = sign(&key, &claims(SIGNER));
    assert_eq!(grant(&app, &good, &[]).await.status(), 200);
    assert_eq!(
        refused(&app, &good).await,
        "The client assertion was replayed: its jti has been used"
    );

    let now = now_seconds();
    let with = |patch: Value| {
        let mut claims = claims(SIGNER);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        sign(&key, &claims)
    };
    let token_endpoint = app.token_url();
    for (assertion, description) in [
        (
            with(json!({ "exp": now - 120 })),
            "The client assertion has expired",
        ),
        (
            with(json!({ "exp": now + 4000 })),
            "The client assertion's lifetime is too long: exp may be at most 3660 seconds ahead",
        ),
        (with(json!({ "iat": now + 600 })), GENERIC),
        (with(json!({ "nbf": now + 600 })), GENERIC),
        (
            with(json!({ "aud": "https://elsewhere.example" })),
            "The client assertion's audience (aud) does not name this server",
        ),
        (with(json!({ "sub": "someone-else" })), GENERIC),
        (with(json!({ "jti": null })), GENERIC),
        (with(json!({ "exp": null })), GENERIC),
        (with(json!({ "iss": "nobody", "sub": "nobody" })), GENERIC),
        // Signed by a key the client does not have.
        (
            sign(&client_key(Algorithm::EdDSA, None), &claims(SIGNER)),
            GENERIC,
        ),
        // A symmetric "signature" with the public key as the secret.
        (
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims(SIGNER),
                &EncodingKey::from_secret(key.jwk["x"].as_str().unwrap().as_bytes()),
            )
            .unwrap(),
            GENERIC,
        ),
        ("not-a-jwt".to_owned(), GENERIC),
    ] {
        assert_eq!(refused(&app, &assertion).await, description, "{assertion}");
    }
    // The token endpoint's URL is an audience too (RFC 7523 §3), alone or in a list.
    for aud in [json!(token_endpoint), json!(["x", token_endpoint])] {
        assert_eq!(
            grant(&app, &with(json!({ "aud": aud })), &[])
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn keys_are_picked_by_kid_and_dictate_the_algorithm() {
    let first = client_key(Algorithm::EdDSA, Some("one"));
    let second = client_key(Algorithm::ES256, Some("two"));
    // An RSA key without `alg` verifies RS256 only.
    let rsa = client_key(Algorithm::RS256, Some("rsa"));
    let app = spawn_app_with(&key_client(
        SIGNER,
        &[&first.jwk, &second.jwk, &rsa.jwk],
        "",
    ))
    .await;
    for key in [&first, &second, &rsa] {
        assert_eq!(
            grant(&app, &sign(key, &claims(SIGNER)), &[]).await.status(),
            200
        );
    }
    let unnamed = ClientKey {
        kid: None,
        ..client_key(Algorithm::EdDSA, None)
    };
    let unnamed = ClientKey {
        key: first.key.clone(),
        ..unnamed
    };
    assert_eq!(
        refused(&app, &sign(&unnamed, &claims(SIGNER))).await,
        GENERIC
    );
    let unknown = ClientKey {
        kid: Some("three".into()),
        key: first.key.clone(),
        ..client_key(Algorithm::EdDSA, None)
    };
    assert_eq!(
        refused(&app, &sign(&unknown, &claims(SIGNER))).await,
        GENERIC
    );
    let pss = ClientKey {
        alg: Algorithm::PS256,
        key: rsa.key.clone(),
        kid: rsa.kid.clone(),
        jwk: Value::Null,
    };
    assert_eq!(refused(&app, &sign(&pss, &claims(SIGNER))).await, GENERIC);
}

#[tokio::test]
async fn requests_mixing_methods_or_naming_another_client_are_bad_requests() {
    let key = client_key(Algorithm::EdDSA, None);
    let app = spawn_app_with(&key_client(SIGNER, &[&key.jwk], "")).await;
    let assertion = sign(&key, &claims(SIGNER));
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{CLIENT_ID}:{CLIENT_SECRET}")
        )
    );
    let form = |kind: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", kind),
            ("client_assertion", assertion.as_str()),
        ]
    };
    let with_basic = app.post_token_with(&basic, &form(ASSERTION_TYPE)).await;
    oauth_error(with_basic, 400, "invalid_request").await;
    let mut with_secret = form(ASSERTION_TYPE);
    with_secret.push(("client_secret", CLIENT_SECRET));
    oauth_error(
        app.post_token_form(&with_secret).await,
        400,
        "invalid_request",
    )
    .await;
    let other_type = app
        .post_token_form(&form(
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ))
        .await;
    oauth_error(other_type, 400, "invalid_request").await;
    let alone = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion", assertion.as_str()),
        ])
        .await;
    oauth_error(alone, 400, "invalid_request").await;
    let mut another = form(ASSERTION_TYPE);
    another.push(("client_id", CLIENT_ID));
    let body = oauth_error(app.post_token_form(&another).await, 400, "invalid_request").await;
    assert_eq!(
        body["error_description"],
        "The client_id differs from the client assertion's issuer"
    );
    // None of these used the assertion up.
    assert_eq!(grant(&app, &assertion, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_client_authenticates_only_by_its_methods() {
    let key = client_key(Algorithm::EdDSA, None);
    let both = format!(
        "{}{}",
        key_client(
            "keys-only",
            &[&key.jwk],
            "client_secret = \"a-secret-it-may-not-use\"\ntoken_endpoint_auth_method = \"private_key_jwt\"",
        ),
        key_client(
            "secret-only",
            &[&key.jwk],
            "client_secret = \"a-secret-it-may-use\"\ntoken_endpoint_auth_method = [\"client_secret_post\"]",
        ),
    );
    let app = spawn_app_with(&both).await;
    let post = |id: &'static str, secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ]
    };
    let by_secret = app
        .post_token_form(&post("keys-only", "a-secret-it-may-not-use"))
        .await;
    oauth_error(by_secret, 401, "invalid_client").await;
    assert_eq!(
        grant(&app, &sign(&key, &claims("keys-only")), &[])
            .await
            .status(),
        200
    );

    assert_eq!(
        app.post_token_form(&post("secret-only", "a-secret-it-may-use"))
            .await
            .status(),
        200
    );
    assert_eq!(
        refused(&app, &sign(&key, &claims("secret-only"))).await,
        GENERIC
    );
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "secret-only:a-secret-it-may-use"
        )
    );
    let by_basic = app
        .post_token_with(&basic, &[("grant_type", "client_credentials")])
        .await;
    oauth_error(by_basic, 401, "invalid_client").await;
    // A secret client of the base configuration has no keys.
    assert_eq!(
        refused(&app, &sign(&key, &claims(CLIENT_ID))).await,
        GENERIC
    );
}

#[tokio::test]
async fn strict_audience_takes_only_the_issuer_as_one_string() {
    let key = client_key(Algorithm::EdDSA, None);
    let app = spawn_app_with(&format!(
        "{}[default.client_assertion]\nstrict_audience = true\n",
        key_client(SIGNER, &[&key.jwk], "")
    ))
    .await;
    let with_aud = |aud: Value| {
        let mut claims = claims(SIGNER);
        claims["aud"] = aud;
        sign(&key, &claims)
    };
    assert_eq!(
        grant(&app, &with_aud(json!(ISSUER)), &[]).await.status(),
        200
    );
    let audience = "The client assertion's audience (aud) does not name this server";
    assert_eq!(
        refused(&app, &with_aud(json!(app.token_url()))).await,
        audience
    );
    assert_eq!(refused(&app, &with_aud(json!([ISSUER]))).await, audience);
}

#[tokio::test]
async fn failed_assertions_count_towards_the_throttle() {
    let key = client_key(Algorithm::EdDSA, None);
    let app = spawn_app_with(&format!(
        "{}[default.throttle]\nmax_failures = 2\nwindow_seconds = 60\n",
        key_client(SIGNER, &[&key.jwk], "")
    ))
    .await;
    let stranger = client_key(Algorithm::EdDSA, None);
    for _ in 0..2 {
        refused(&app, &sign(&stranger, &claims(SIGNER))).await;
    }
    let response = grant(&app, &sign(&key, &claims(SIGNER)), &[]).await;
    assert!(header(response.headers(), "retry-after").is_some());
    oauth_error(response, 429, "too_many_requests").await;
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_its_algorithms() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    for member in [
        "token_endpoint_auth_signing_alg_values_supported",
        "dpop_signing_alg_values_supported",
    ] {
        assert_eq!(
            metadata[member],
            json!(["EdDSA", "ES256", "ES384", "RS256", "PS256"]),
            "{member}"
        );
    }
}
