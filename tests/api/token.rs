//! `POST /auth/token`: the client-credentials grant, every success and error path.

use base64::{Engine, engine::general_purpose::STANDARD};
use oauth2::{AuthType, ClientId, ClientSecret, TokenResponse, TokenUrl, basic::BasicClient};
use serde_json::{Value, json};

use crate::helpers::*;

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Decodes a JWT's header and claims without verifying (the server's verification is
/// tested through the protected routes).
fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().expect("jwt part");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("json")
    };
    (decode(), decode())
}

#[tokio::test]
async fn form_post_issues_a_token_with_rfc_9068_claims() {
    let app = spawn_app().await;
    let response = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "pragma"), Some("no-cache"));
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "api:write");
    assert!(body.get("refresh_token").is_none());
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);

    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(claims["scope"], "api:write");
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64(), Some(iat));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

#[tokio::test]
async fn every_token_has_its_own_jti() {
    let app = spawn_app().await;
    let (_, a) = jwt_parts(&app.token().await);
    let (_, b) = jwt_parts(&app.token().await);
    assert_ne!(a["jti"], b["jti"]);
}

#[tokio::test]
async fn json_body_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.token_url())
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn basic_with_form_encoded_credentials_is_accepted() {
    let app = spawn_app().await;
    for (id, secret) in [
        (CLIENT_ID, CLIENT_SECRET),
        (PLUS_CLIENT_ID, PLUS_CLIENT_SECRET),
    ] {
        let response = app
            .http
            .post(app.token_url())
            .header(
                "Authorization",
                basic(&form_encode(id), &form_encode(secret)),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
}

#[tokio::test]
async fn basic_with_raw_credentials_is_accepted_as_swagger_ui_sends_them() {
    let app = spawn_app().await;
    for (id, secret) in [
        (CLIENT_ID, CLIENT_SECRET),
        (PLUS_CLIENT_ID, PLUS_CLIENT_SECRET),
    ] {
        let response = app
            .post_token_with(
                &basic(id, secret),
                &[("grant_type", "client_credentials"), ("scope", "")],
            )
            .await;
        assert_eq!(response.status(), 200, "{id}");
    }
}

#[tokio::test]
async fn basic_scheme_name_is_case_insensitive() {
    let app = spawn_app().await;
    let value = basic(CLIENT_ID, CLIENT_SECRET).replace("Basic", "bAsIc");
    let response = app
        .post_token_with(&value, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn oauth2_crate_gets_tokens_by_basic_and_by_post() {
    let app = spawn_app().await;
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (id, secret) in [
        (CLIENT_ID, CLIENT_SECRET),
        (PLUS_CLIENT_ID, PLUS_CLIENT_SECRET),
    ] {
        for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
            let client = BasicClient::new(ClientId::new(id.to_owned()))
                .set_client_secret(ClientSecret::new(secret.to_owned()))
                .set_token_uri(TokenUrl::new(app.token_url()).unwrap())
                .set_auth_type(auth_type.clone());
            let token = client
                .exchange_client_credentials()
                .request_async(&http)
                .await
                .unwrap_or_else(|e| panic!("{id} {auth_type:?}: {e:?}"));
            assert_eq!(token.token_type().as_ref(), "bearer");
            assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(3600));
            // The token works on a protected route.
            let response = app
                .http
                .delete(app.url("/players/squadnumber/99"))
                .bearer_auth(token.access_token().secret())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 404, "{id} {auth_type:?}");
        }
    }
}

#[tokio::test]
async fn basic_with_a_matching_body_client_id_is_fine() {
    let app = spawn_app().await;
    let response = app
        .post_token_with(
            &basic(CLIENT_ID, CLIENT_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn basic_with_another_body_client_id_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .post_token_with(
            &basic(CLIENT_ID, CLIENT_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", PLUS_CLIENT_ID),
            ],
        )
        .await;
    oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn basic_plus_body_secret_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .post_token_with(
            &basic(CLIENT_ID, CLIENT_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn failed_client_authentication_is_invalid_client_with_one_body() {
    let app = spawn_app().await;
    let attempts: Vec<reqwest::RequestBuilder> = vec![
        // wrong secret, post
        app.http.post(app.token_url()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ]),
        // unknown client, post
        app.http.post(app.token_url()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", CLIENT_SECRET),
        ]),
        // no credentials at all
        app.http
            .post(app.token_url())
            .form(&[("grant_type", "client_credentials")]),
        // id without secret
        app.http.post(app.token_url()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
        ]),
        // wrong secret, Basic
        app.http
            .post(app.token_url())
            .header("Authorization", basic(CLIENT_ID, "wrong"))
            .form(&[("grant_type", "client_credentials")]),
        // Basic that is not base64
        app.http
            .post(app.token_url())
            .header("Authorization", "Basic %%%not-base64")
            .form(&[("grant_type", "client_credentials")]),
        // Basic without a colon
        app.http
            .post(app.token_url())
            .header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(CLIENT_ID)),
            )
            .form(&[("grant_type", "client_credentials")]),
        // a secret that only matches once decoded wrongly: the raw secret percent-encoded twice
        app.http
            .post(app.token_url())
            .header(
                "Authorization",
                basic(
                    PLUS_CLIENT_ID,
                    &form_encode(&form_encode(PLUS_CLIENT_SECRET)),
                ),
            )
            .form(&[("grant_type", "client_credentials")]),
    ];
    let mut bodies = Vec::new();
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(
            header(response.headers(), "www-authenticate"),
            Some("Basic realm=\"players\"")
        );
        bodies.push(oauth_error(response, 401, "invalid_client").await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

#[tokio::test]
async fn another_grant_type_is_unsupported() {
    let app = spawn_app().await;
    for grant in ["password", "authorization_code", "CLIENT_CREDENTIALS"] {
        let response = app
            .post_token_form(&[
                ("grant_type", grant),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .await;
        let body = oauth_error(response, 400, "unsupported_grant_type").await;
        assert!(!body["error_description"].as_str().unwrap().contains(grant));
    }
}

#[tokio::test]
async fn missing_or_empty_grant_type_is_invalid_request() {
    let app = spawn_app().await;
    for form in [
        vec![("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        vec![
            ("grant_type", ""),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    ] {
        let response = app.post_token_form(&form).await;
        oauth_error(response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_id={CLIENT_ID}&client_secret={}",
        form_encode(CLIENT_SECRET)
    );
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn malformed_bodies_and_content_types_are_invalid_request() {
    let app = spawn_app().await;
    let cases: Vec<(Option<&str>, String)> = vec![
        (Some("application/json"), "{not json".into()),
        (Some("application/json"), "[]".into()),
        (
            Some("application/json"),
            json!({"grant_type": "client_credentials", "client_id": 7, "client_secret": "x"})
                .to_string(),
        ),
        // A repeated parameter in JSON, as in a form (RFC 6749 §3.2): the last does not win.
        (
            Some("application/json"),
            format!(
                r#"{{"grant_type":"client_credentials","client_id":"{CLIENT_ID}","client_secret":"{CLIENT_SECRET}","client_id":"other"}}"#
            ),
        ),
        (Some("text/plain"), "grant_type=client_credentials".into()),
        (None, "grant_type=client_credentials".into()),
        (Some("application/xml"), "<grant_type/>".into()),
    ];
    for (content_type, body) in cases {
        let mut request = app.http.post(app.token_url()).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();
        let error = oauth_error(response, 400, "invalid_request").await;
        assert!(!error.to_string().contains(&body), "echoed input: {error}");
    }
}

#[tokio::test]
async fn empty_scope_means_all_allowed_scopes_and_a_subset_narrows() {
    let app = spawn_app().await;
    let grant = |scope: &'static str| {
        app.http
            .post(app.token_url())
            .header(
                "Authorization",
                basic(
                    &form_encode(PLUS_CLIENT_ID),
                    &form_encode(PLUS_CLIENT_SECRET),
                ),
            )
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };
    let body: Value = grant("").await.unwrap().json().await.unwrap();
    assert_eq!(body["scope"], "api:write players:delete");
    let body: Value = grant("players:delete").await.unwrap().json().await.unwrap();
    assert_eq!(body["scope"], "players:delete");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "players:delete");
    let response = grant("players:delete admin").await.unwrap();
    oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = spawn_app().await;
    let body = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(70 * 1024)
    );
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    oauth_error(response, 413, "invalid_request").await;
}

#[tokio::test]
async fn get_on_the_token_endpoint_is_405_with_allow() {
    let app = spawn_app().await;
    let response = app.get("/auth/token").await;
    assert_eq!(header(response.headers(), "allow"), Some("POST"));
    problem(response, 405).await;
}

#[tokio::test]
async fn hostile_token_requests_get_their_exact_errors() {
    let app = spawn_app().await;
    // A bad percent-escape in Basic: neither form matches.
    let response = app
        .post_token_with(
            &basic(CLIENT_ID, "%E0%A4%A"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    oauth_error(response, 401, "invalid_client").await;
    // 8 MB body: refused from its Content-Length, never read.
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 8 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    oauth_error(response, 413, "invalid_request").await;
    // A JSON array of parameters.
    let response = app
        .http
        .post(app.token_url())
        .json(&json!([{"grant_type": "client_credentials"}]))
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "invalid_request").await;
    assert_eq!(app.get("/health").await.status(), 200);
}

/// A browser answers `WWW-Authenticate: Basic` on a script's request with its own login
/// dialog (Swagger UI's Authorize dialog, Try it out): requests a script sends (`Origin`
/// or `X-Requested-With`) get the same refusal without the challenge; others keep it.
#[tokio::test]
async fn script_requests_get_invalid_client_without_a_basic_challenge() {
    let app = spawn_app_with("throttle = { max_failures = 100, window_seconds = 60 }").await;
    let plain = app
        .post_token_with(
            &basic(CLIENT_ID, "wrong"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        header(plain.headers(), "www-authenticate"),
        Some("Basic realm=\"players\"")
    );
    let expected = oauth_error(plain, 401, "invalid_client").await;

    let marks: [&[(&str, &str)]; 4] = [
        &[("Origin", "http://localhost:9000")],
        &[("Origin", "null")],
        &[("X-Requested-With", "XMLHttpRequest")],
        &[
            ("Origin", "https://elsewhere.example"),
            ("X-Requested-With", "XMLHttpRequest"),
        ],
    ];
    for mark in marks {
        let attempts = [
            app.http
                .post(app.token_url())
                .header("Authorization", basic(CLIENT_ID, "wrong"))
                .form(&[("grant_type", "client_credentials"), ("scope", "")]),
            app.http.post(app.token_url()).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "wrong"),
            ]),
            app.http
                .post(app.token_url())
                .form(&[("grant_type", "client_credentials")]),
        ];
        for attempt in attempts {
            let attempt = mark.iter().fold(attempt, |request, (name, value)| {
                request.header(*name, *value)
            });
            let response = attempt.send().await.unwrap();
            assert_eq!(
                header(response.headers(), "www-authenticate"),
                None,
                "{mark:?}"
            );
            assert_eq!(header(response.headers(), "pragma"), Some("no-cache"));
            assert_eq!(oauth_error(response, 401, "invalid_client").await, expected);
        }
    }
}
