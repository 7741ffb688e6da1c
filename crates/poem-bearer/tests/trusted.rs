//! Trusted issuers through the validator: what is fetched, from where, and what is refused.

mod common;

use poem_bearer::{Rejection, TrustedIssuer, Validator};

use common::{Issuer, key, token, token_with};

const ISSUER: &str = "https://id.example.com";

fn by_discovery(issuer: &Issuer) -> TrustedIssuer {
    TrustedIssuer {
        issuer: ISSUER.into(),
        discovery_url: Some(issuer.discovery_url()),
        audience: "api".into(),
        ..TrustedIssuer::default()
    }
}

fn by_jwks(url: String) -> TrustedIssuer {
    TrustedIssuer {
        issuer: ISSUER.into(),
        jwks_url: Some(url),
        audience: "api".into(),
        ..TrustedIssuer::default()
    }
}

async fn validator(trusted: Vec<TrustedIssuer>) -> std::sync::Arc<Validator> {
    trusted
        .into_iter()
        .fold(Validator::builder("api"), |b, t| b.trust(t))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_is_verified_with_the_keys_of_the_issuer_its_iss_names() {
    let (a, b) = (key("a"), key("b"));
    let first = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    let second = Issuer::start("https://other.example.com", vec![b.jwk.clone()]).await;
    let validator = validator(vec![
        by_discovery(&first),
        TrustedIssuer {
            issuer: "https://other.example.com".into(),
            ..by_discovery(&second)
        },
    ])
    .await;
    let claims = validator
        .validate(&token(&a, ISSUER, "api", "x y"))
        .await
        .unwrap();
    assert_eq!(
        (claims.issuer.as_str(), claims.client_id.as_str()),
        (ISSUER, "svc")
    );
    assert!(claims.has_scope("y") && !claims.local);
    let other = "https://other.example.com";
    assert!(
        validator
            .validate(&token(&b, other, "api", "x"))
            .await
            .is_ok()
    );
    // Key b signs, but the token names the first issuer, which does not have it.
    assert_eq!(
        validator.validate(&token(&b, ISSUER, "api", "x")).await,
        Err(Rejection::UnknownIssuerKey)
    );
    assert_eq!(
        validator
            .validate(&token(&a, ISSUER, "other-api", "x"))
            .await,
        Err(Rejection::WrongAudience)
    );
    // No local keys: any other issuer is refused.
    assert_eq!(
        validator
            .validate(&token(&a, "https://nobody.example", "api", "x"))
            .await,
        Err(Rejection::WrongIssuer)
    );
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_gives_no_keys() {
    let a = key("a");
    // RFC 8414 §3.3: the document's issuer must be the configured one, exactly.
    let issuer = Issuer::start("https://id.example.com/", vec![a.jwk.clone()]).await;
    let validator = validator(vec![by_discovery(&issuer)]).await;
    assert_eq!(issuer.fetches(), 0, "the JWKS is not even fetched");
    assert_eq!(
        validator.validate(&token(&a, ISSUER, "api", "x")).await,
        Err(Rejection::IssuerUnavailable)
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_large_documents_not_read() {
    let a = key("a");
    let issuer = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    for path in ["/redirect", "/huge"] {
        let validator = validator(vec![by_jwks(format!("{}{path}", issuer.base))]).await;
        assert_eq!(
            validator.validate(&token(&a, ISSUER, "api", "x")).await,
            Err(Rejection::IssuerUnavailable),
            "{path}"
        );
    }
    assert_eq!(
        issuer.fetches(),
        0,
        "the redirect's target is never fetched"
    );
}

#[tokio::test]
async fn unusable_jwks_are_skipped_and_the_rest_are_used() {
    let a = key("a");
    let mut enc = key("enc").jwk;
    enc["use"] = "enc".into();
    let keys = vec![
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        serde_json::json!({"kty": "XYZ", "kid": "odd"}),
        enc,
        a.jwk.clone(),
    ];
    let issuer = Issuer::start(ISSUER, keys).await;
    let validator = validator(vec![by_discovery(&issuer)]).await;
    assert!(
        validator
            .validate(&token(&a, ISSUER, "api", "x"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_refresh_per_ten_seconds() {
    let (a, b, c) = (key("a"), key("b"), key("c"));
    let issuer = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    let validator = validator(vec![by_discovery(&issuer)]).await;
    assert_eq!(issuer.fetches(), 1);
    *issuer.state.keys.lock().unwrap() = vec![a.jwk.clone(), b.jwk.clone(), c.jwk.clone()];
    assert!(
        validator
            .validate(&token(&b, ISSUER, "api", "x"))
            .await
            .is_ok()
    );
    assert_eq!(issuer.fetches(), 2);
    // c was fetched with b: no refresh needed.
    assert!(
        validator
            .validate(&token(&c, ISSUER, "api", "x"))
            .await
            .is_ok()
    );
    let junk = key("junk");
    for _ in 0..5 {
        assert_eq!(
            validator.validate(&token(&junk, ISSUER, "api", "x")).await,
            Err(Rejection::UnknownIssuerKey)
        );
    }
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test]
async fn the_refusal_hook_hears_every_refusal_of_a_guard() {
    use poem::{EndpointExt, test::TestClient};
    use poem_bearer::{Bearer, Refusal, Requirement, Schemes};
    use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Copy, OAuthScopes)]
    enum Scope {
        #[oai(rename = "w")]
        W,
    }
    struct S;
    impl Schemes for S {
        type Scope = Scope;
        const TOKEN_URL: Option<&'static str> = None;
    }
    struct NeedsW;
    impl Requirement for NeedsW {
        type Schemes = S;
        const ANY_OF: &'static [Scope] = &[Scope::W];
    }
    struct Api;
    #[OpenApi]
    impl Api {
        #[oai(path = "/w", method = "post")]
        async fn write(
            &self,
            #[oai(scope = "Scope::W")] _auth: Bearer<NeedsW>,
        ) -> PlainText<&'static str> {
            PlainText("ok")
        }
    }

    let a = key("a");
    let issuer = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    let heard = Arc::new(Mutex::new(Vec::new()));
    let validator = Validator::builder("api")
        .trust(by_discovery(&issuer))
        .on_refusal({
            let heard = heard.clone();
            move |refusal| heard.lock().unwrap().push(refusal)
        })
        .build()
        .await
        .unwrap();
    let client = TestClient::new(
        poem::Route::new()
            .nest("/", OpenApiService::new(Api, "t", "1"))
            .data(validator),
    );
    use poem::http::StatusCode;
    // Each request's Authorization (none for the first), and the status it must get.
    for (authorization, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (
            Some(token(&a, ISSUER, "other", "w")),
            StatusCode::UNAUTHORIZED,
        ),
        (Some(token(&a, ISSUER, "api", "x")), StatusCode::FORBIDDEN),
        (Some(token(&a, ISSUER, "api", "w")), StatusCode::OK),
    ] {
        let request = client.post("/w");
        let request = match authorization {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        request.send().await.assert_status(status);
    }
    assert_eq!(
        *heard.lock().unwrap(),
        [
            Refusal::Missing,
            Refusal::InvalidToken(Rejection::WrongAudience),
            Refusal::InsufficientScope("w"),
        ]
    );
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_not_valid_yet() {
    let a = key("a");
    let issuer = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    let validator = validator(vec![by_discovery(&issuer)]).await;
    let now = poem_bearer::token::now_seconds();
    let claims = |iat: u64| {
        serde_json::json!({
            "iss": ISSUER, "sub": "svc", "aud": "api", "client_id": "svc", "scope": "x",
            "iat": iat, "exp": now + 7200, "jti": "j",
        })
    };
    assert_eq!(
        validator
            .validate(&token_with(&a, claims(now + 3600)))
            .await,
        Err(Rejection::NotYetValid)
    );
    // Within the 60 s of clock skew it is fine.
    assert!(
        validator
            .validate(&token_with(&a, claims(now + 30)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_refresh_finishes_even_when_the_request_that_triggered_it_goes_away() {
    let (a, b) = (key("a"), key("b"));
    let issuer = Issuer::start(ISSUER, vec![a.jwk.clone()]).await;
    let validator = validator(vec![by_discovery(&issuer)]).await;
    *issuer.state.keys.lock().unwrap() = vec![a.jwk.clone(), b.jwk.clone()];
    *issuer.state.delay.lock().unwrap() = std::time::Duration::from_millis(500);
    let rotated = token(&b, ISSUER, "api", "x");
    // The client gives up long before the issuer answers.
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        validator.validate(&rotated),
    )
    .await;
    assert!(gave_up.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The refresh it triggered completed: the new key is known without another fetch.
    assert!(validator.validate(&rotated).await.is_ok());
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test]
async fn settings_errors_name_the_field() {
    let err = Validator::builder("api")
        .trust(by_jwks("http://id.example.com/jwks".into()))
        .build()
        .await
        .err()
        .unwrap();
    assert_eq!(err.field(), "trusted[0].jwks_url");
    let err = Validator::builder("api")
        .trust(by_jwks("https://id.example.com/jwks".into()))
        .trust(by_jwks("https://id.example.com/jwks".into()))
        .build()
        .await
        .err()
        .unwrap();
    assert_eq!(err.field(), "trusted[1].issuer");
    let err = Validator::builder("a \"realm\"")
        .build()
        .await
        .err()
        .unwrap();
    assert_eq!(err.field(), "realm");
}
