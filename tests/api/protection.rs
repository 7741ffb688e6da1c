//! Bearer protection of the writes (RFC 6750 §3, RFC 8725, RFC 9068 §4).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use players_api::auth::token::now_seconds;
use serde_json::{Value, json};

use crate::helpers::*;

/// Claims as the server issues them, for tokens the tests forge or alter.
fn claims() -> Value {
    let now = now_seconds();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": CLIENT_ID, "client_id": CLIENT_ID,
        "scope": "api:write", "iat": now, "nbf": now, "exp": now + 600,
        "jti": "test-jti"
    })
}

/// The key id the server derives for the test key.
fn kid() -> String {
    players_api::auth::keys::hmac_key_id(KEY.as_bytes())
}

fn at_jwt_header(alg: Algorithm) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid());
    header
}

fn sign(header: &Header, claims: &Value, key: &str) -> String {
    encode(header, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

fn good_token_with(change: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    change(&mut c);
    sign(&at_jwt_header(Algorithm::HS256), &c, KEY)
}

async fn delete_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.http.delete(app.url("/players/squadnumber/99"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.unwrap()
}

const NO_TOKEN: &str = "A Bearer access token is required for this operation";
const NOT_BEARER: &str = "The Authorization header does not use the Bearer scheme";

async fn assert_no_credentials(response: reqwest::Response, detail: &str) {
    assert_eq!(
        header(response.headers(), "www-authenticate"),
        Some("Bearer realm=\"players\"")
    );
    let body = problem(response, 401).await;
    assert!(body.get("error").is_none(), "{body}");
    assert_eq!(body["detail"], detail);
}

async fn assert_invalid_token(response: reqwest::Response) -> String {
    let challenge = header(response.headers(), "www-authenticate")
        .expect("challenge")
        .to_owned();
    assert!(
        challenge
            .starts_with("Bearer realm=\"players\", error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.ends_with('"'));
    let body = problem(response, 401).await;
    assert_eq!(body["error"], "invalid_token");
    challenge
}

#[tokio::test]
async fn writes_without_credentials_get_a_bare_bearer_challenge() {
    let app = spawn_app().await;
    let requests = [
        app.http.post(app.url("/players")).json(&player_body(50)),
        app.http
            .put(app.url("/players/squadnumber/10"))
            .json(&player_body(10)),
        app.http.delete(app.url("/players/squadnumber/10")),
    ];
    for request in requests {
        assert_no_credentials(request.send().await.unwrap(), NO_TOKEN).await;
    }
}

/// Another scheme is no Bearer credentials (RFC 6750 §3.1: no error code), and the
/// detail says what is wrong with the header, not that it is missing.
#[tokio::test]
async fn another_scheme_counts_as_no_credentials() {
    let app = spawn_app().await;
    let token = app.token().await;
    for value in [
        "Basic Zm9vOmJhcg==".to_owned(),
        "Token abc".to_owned(),
        // A token pasted without its scheme.
        token.clone(),
        format!(" {token}"),
    ] {
        assert_no_credentials(delete_with(&app, Some(&value)).await, NOT_BEARER).await;
    }
}

/// A token that is not a `b64token` (RFC 6750 §2.1), e.g. `Bearer Bearer <token>` (what
/// a paste into Swagger UI's bearerAuth box gives), is malformed, whatever its signature.
#[tokio::test]
async fn a_token_outside_the_b64token_syntax_is_malformed() {
    let app = spawn_app().await;
    let token = app.token().await;
    for value in [
        format!("Bearer Bearer {token}"),
        format!("Bearer {token} extra"),
        format!("Bearer \"{token}\""),
        format!("Bearer {token},"),
        "Bearer a.b.c%".to_owned(),
    ] {
        let response = delete_with(&app, Some(&value)).await;
        let challenge = assert_invalid_token(response).await;
        assert!(
            challenge.ends_with("error_description=\"The access token is malformed\""),
            "{value}: {challenge}"
        );
    }
}

#[tokio::test]
async fn no_token_and_a_bad_body_is_401_not_400() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/players"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_no_credentials(response, NO_TOKEN).await;
    let response = app
        .http
        .post(app.url("/players"))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_no_credentials(response, NO_TOKEN).await;
}

#[tokio::test]
async fn a_valid_token_is_accepted_whatever_the_case_of_the_scheme() {
    let app = spawn_app().await;
    let token = app.token().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = delete_with(&app, Some(&format!("{scheme} {token}"))).await;
        // Squad number 99 is free: authenticated, then not found.
        problem(response, 404).await;
    }
}

#[tokio::test]
async fn garbage_and_empty_tokens_are_invalid() {
    let app = spawn_app().await;
    for value in [
        "Bearer not.a.jwt",
        "Bearer abc",
        "Bearer ",
        "Bearer a.b.c.d",
    ] {
        assert_invalid_token(delete_with(&app, Some(value)).await).await;
    }
}

#[tokio::test]
async fn forged_and_altered_tokens_are_invalid() {
    let app = spawn_app().await;
    let now = now_seconds();
    let cases: Vec<(&str, String)> = vec![
        (
            "another key",
            sign(
                &at_jwt_header(Algorithm::HS256),
                &claims(),
                "another-key-another-key-another-key!",
            ),
        ),
        (
            "HS512 with the right key",
            sign(&at_jwt_header(Algorithm::HS512), &claims(), KEY),
        ),
        (
            "HS384 with the right key",
            sign(&at_jwt_header(Algorithm::HS384), &claims(), KEY),
        ),
        (
            "expired beyond leeway",
            good_token_with(|c| c["exp"] = json!(now - 120)),
        ),
        (
            "not yet valid beyond leeway",
            good_token_with(|c| c["nbf"] = json!(now + 300)),
        ),
        (
            "other issuer",
            good_token_with(|c| c["iss"] = json!("someone-else")),
        ),
        (
            "other audience",
            good_token_with(|c| c["aud"] = json!("someone-else")),
        ),
        (
            "no exp",
            good_token_with(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "no iss",
            good_token_with(|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
        ),
        (
            "no aud",
            good_token_with(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
        (
            "no sub",
            good_token_with(|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
        (
            "no client_id",
            good_token_with(|c| {
                c.as_object_mut().unwrap().remove("client_id");
            }),
        ),
        (
            "exp as a string",
            good_token_with(|c| c["exp"] = json!("tomorrow")),
        ),
        ("typ JWT", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid());
            h.typ = Some("JWT".into());
            sign(&h, &claims(), KEY)
        }),
        ("no typ", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid());
            h.typ = None;
            sign(&h, &claims(), KEY)
        }),
        ("crit header", {
            let mut h = at_jwt_header(Algorithm::HS256);
            h.crit = Some(vec!["exp".into()]);
            sign(&h, &claims(), KEY)
        }),
        ("alg none", {
            let b64 = |v: Value| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "typ": "at+jwt"})),
                b64(claims())
            )
        }),
        ("signature stripped", {
            let token = good_token_with(|_| {});
            let cut = token.rfind('.').unwrap();
            token[..=cut].to_owned()
        }),
        ("claims altered after signing", {
            // The signature of one token over the claims of another.
            let signed = good_token_with(|_| {});
            let altered = good_token_with(|c| c["client_id"] = json!("admin"));
            let parts: Vec<&str> = signed.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                altered.split('.').nth(1).unwrap(),
                parts[2]
            )
        }),
    ];
    for (name, token) in cases {
        let response = delete_with(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), 401, "{name}");
        let challenge = assert_invalid_token(response).await;
        assert!(!challenge.contains(&token), "{name}: token echoed");
    }
}

#[tokio::test]
async fn the_challenge_says_why() {
    let app = spawn_app().await;
    let expired = good_token_with(|c| c["exp"] = json!(now_seconds() - 3600));
    let challenge =
        assert_invalid_token(delete_with(&app, Some(&format!("Bearer {expired}"))).await).await;
    assert!(challenge.contains("expired"), "{challenge}");
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_tolerated() {
    let app = spawn_app().await;
    let now = now_seconds();
    for token in [
        good_token_with(|c| c["exp"] = json!(now - 30)),
        good_token_with(|c| c["nbf"] = json!(now + 30)),
    ] {
        let response = delete_with(&app, Some(&format!("Bearer {token}"))).await;
        problem(response, 404).await;
    }
}

#[tokio::test]
async fn application_at_jwt_typ_is_accepted() {
    let app = spawn_app().await;
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid());
    h.typ = Some("application/at+jwt".into());
    let token = sign(&h, &claims(), KEY);
    problem(
        delete_with(&app, Some(&format!("Bearer {token}"))).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn reads_need_no_token_and_ignore_a_bad_one() {
    let app = spawn_app().await;
    for path in ["/players", "/players/squadnumber/10", "/health"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
        let response = app
            .http
            .get(app.url(path))
            .header("Authorization", "Bearer garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

/// The attack battery: every token a hostile client might try, each a 401
/// `invalid_token` with its challenge, and the server healthy after.
#[tokio::test]
async fn hostile_tokens_are_all_invalid() {
    use base64::Engine;
    let app = spawn_app().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let signed_with = |header: Value| {
        // Sign header.claims with the real key, whatever the header says.
        use hmac::Mac;
        let input = format!("{}.{}", b64(&header), b64(&claims()));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let signature =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{signature}")
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "nOnE", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid()});
        cases.push((
            format!("alg {alg} unsigned"),
            format!("{}.{}.", b64(&header), b64(&claims())),
        ));
        cases.push((format!("alg {alg} signed"), signed_with(header)));
    }
    for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
        cases.push((
            format!("{alg} header"),
            signed_with(json!({"alg": alg, "typ": "at+jwt", "kid": kid()})),
        ));
    }
    let hostile_headers = [
        (
            "embedded jwk",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(), "jwk": {"kty": "oct", "k": "YQ"}}),
        ),
        (
            "jku",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(), "jku": "http://127.0.0.1:1/jwks.json"}),
        ),
        (
            "x5u",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(), "x5u": "http://127.0.0.1:1/cert.pem"}),
        ),
        (
            "path kid",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": "../../../../etc/passwd"}),
        ),
        (
            "sql kid",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": "' OR 1=1 --"}),
        ),
        (
            "unknown crit",
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(), "crit": ["x-custom"], "x-custom": 1}),
        ),
    ];
    for (name, header) in hostile_headers {
        cases.push((name.to_owned(), signed_with(header)));
    }
    let aud_array = {
        let mut c = claims();
        c["aud"] = json!(["someone-else", "another"]);
        sign(&at_jwt_header(Algorithm::HS256), &c, KEY)
    };
    cases.push(("aud array without ours".into(), aud_array));
    let good = good_token_with(|_| {});
    let parts: Vec<&str> = good.split('.').collect();
    cases.push(("two segments".into(), format!("{}.{}", parts[0], parts[1])));
    cases.push(("four segments".into(), format!("{good}.{}", parts[2])));
    cases.push((
        "five segments".into(),
        format!("{good}.{}.{}", parts[1], parts[2]),
    ));
    cases.push((
        "non-base64url characters".into(),
        format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
    ));
    cases.push((
        "8 KiB".into(),
        format!("{}.{}.{}", parts[0], "A".repeat(8000), parts[2]),
    ));
    for (name, token) in cases {
        let response = app
            .http
            .delete(app.url("/players/squadnumber/10"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
        assert_invalid_token(response).await;
    }
    // The player is still there and the server still answers.
    assert_eq!(app.get("/players/squadnumber/10").await.status(), 200);
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .http
        .delete(app.url(&format!("/players/squadnumber/10?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_no_credentials(response, NO_TOKEN).await;
}

#[tokio::test]
async fn several_authorization_headers_are_refused_on_writes_and_the_token_endpoint() {
    let app = spawn_app().await;
    let token = app.token().await;
    // A valid token first, junk second: neither is taken.
    let response = app
        .http
        .post(app.url("/players"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Authorization", "Bearer junk")
        .json(&player_body(77))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(response.headers(), "www-authenticate"),
        Some("Bearer realm=\"players\", error=\"invalid_request\"")
    );
    let body = problem(response, 400).await;
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        app.get("/players")
            .await
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        26
    );

    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{CLIENT_ID}:{CLIENT_SECRET}")
        )
    );
    let response = app
        .http
        .post(app.token_url())
        .header("Authorization", &basic)
        .header("Authorization", &basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "www-authenticate"), None);
    oauth_error(response, 400, "invalid_request").await;

    // Reads ignore Authorization, however many.
    let response = app
        .http
        .get(app.url("/players"))
        .header("Authorization", "Bearer a")
        .header("Authorization", "Bearer b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A token from another key (say, the HS256 key used before a switch to EdDSA) is refused
/// for its `kid`, the real reason, not for a signature or algorithm check it never had
/// to pass; a token naming our `kid` with a bad signature is refused for the signature.
#[tokio::test]
async fn a_token_from_another_key_is_refused_for_its_key_id() {
    let app = spawn_app().await;
    let description = |challenge: String| {
        challenge
            .split("error_description=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"')
            .to_owned()
    };
    let other_key = "another-key-another-key-another-key!";
    let mut header = at_jwt_header(Algorithm::HS256);
    header.kid = Some("hs256-0000000000000000".into());
    let foreign = sign(&header, &claims(), other_key);
    let foreign_alg = {
        use base64::Engine;
        let good = sign(&at_jwt_header(Algorithm::HS256), &claims(), other_key);
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "some-ed25519-thumbprint"});
        let signature = good.rsplit('.').next().unwrap().to_owned();
        format!("{}.{}.{signature}", b64(&header), b64(&claims()))
    };
    for token in [foreign, foreign_alg] {
        let response = delete_with(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(
            description(assert_invalid_token(response).await),
            "The token's key id is not one of this server's keys"
        );
    }
    let forged = sign(&at_jwt_header(Algorithm::HS256), &claims(), other_key);
    let response = delete_with(&app, Some(&format!("Bearer {forged}"))).await;
    assert_eq!(
        description(assert_invalid_token(response).await),
        "The access token signature is invalid"
    );
}
