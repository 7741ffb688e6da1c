//! CORS for pages on other origins: `cors.allowed_origins`. Off by default; listed origins
//! get preflights and CORS headers on the API's routes; anyone else gets exactly the
//! answer they got without CORS (never a 403).

use std::collections::BTreeMap;

use reqwest::{Method, Response};

use crate::helpers::*;

const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP, X-Requested-With, X-Request-Id";
const EXPOSE_HEADERS: &str = "Location, WWW-Authenticate, Retry-After, DPoP-Nonce, X-Request-Id";
const PAGE: &str = "https://app.example.com";

/// The CORS headers and `Vary` of a response, by name (each sent once).
fn cors_headers(response: &Response) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for (name, value) in response.headers() {
        if name.as_str().starts_with("access-control-") || name == "vary" {
            let previous = found.insert(name.to_string(), value.to_str().unwrap().to_owned());
            assert!(previous.is_none(), "{name} sent twice");
        }
    }
    found
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

/// The CORS headers of an answer (not a preflight) that a page on `origin` may read.
fn readable_by(origin: &str) -> BTreeMap<String, String> {
    expect(&[
        ("vary", "Origin"),
        ("access-control-allow-origin", origin),
        ("access-control-expose-headers", EXPOSE_HEADERS),
    ])
}

/// (path, the route's methods) for every route CORS covers.
const ROUTES: [(&str, &str); 9] = [
    ("/auth/token", "POST"),
    ("/auth/revoke", "POST"),
    ("/auth/introspect", "POST"),
    ("/.well-known/oauth-authorization-server", "GET, HEAD"),
    ("/.well-known/jwks.json", "GET, HEAD"),
    ("/openapi.json", "GET, HEAD"),
    ("/players", "GET, HEAD, POST"),
    ("/players/squadnumber/10", "GET, HEAD, PUT, DELETE"),
    ("/players/0b1c0f5e-8d3c-4a59-9b1e-1d0c6f3f5a10", "GET, HEAD"),
];

#[tokio::test]
async fn without_allowed_origins_no_cors_header_is_sent() {
    let app = spawn_app().await;
    let response = preflight(&app, "/players", PAGE, "POST").await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(response.headers(), "allow"), Some("GET, HEAD, POST"));
    assert_eq!(cors_headers(&response), expect(&[]));
    let response = app
        .http
        .get(app.url("/players"))
        .header("Origin", PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(cors_headers(&response), expect(&[]));
}

#[tokio::test]
async fn a_listed_origin_gets_preflights_and_cors_headers_on_every_api_route() {
    // Written with upper case and a trailing slash: compared as serialised origins.
    let app =
        spawn_app_with("cors = { allowed_origins = [\"HTTPS://App.Example.com:443/\"] }").await;
    for origin in [
        PAGE,
        "https://APP.example.com",
        "https://app.example.com:443",
    ] {
        for (path, methods) in ROUTES {
            let response = preflight(&app, path, origin, "POST").await;
            assert_eq!(response.status(), 204, "{path}");
            assert_eq!(
                cors_headers(&response),
                expect(&[
                    ("vary", "Origin"),
                    // The listed origin, serialised, whatever form it was sent in.
                    ("access-control-allow-origin", PAGE),
                    ("access-control-allow-methods", methods),
                    ("access-control-allow-headers", ALLOW_HEADERS),
                    ("access-control-max-age", "600"),
                ]),
                "{path}"
            );
            assert_eq!(response.text().await.unwrap(), "");
        }
    }
    // Real requests, successes and refusals alike, can be read by the page.
    let token = app.token().await;
    let answers = [
        app.http.get(app.url("/players")),
        app.http.head(app.url("/openapi.json")),
        app.http
            .post(app.url("/players"))
            .bearer_auth(&token)
            .json(&player_body(70)),
        app.http.delete(app.url("/players/squadnumber/70")),
        app.http
            .post(app.token_url())
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&[("grant_type", "client_credentials")]),
        app.http.get(app.url("/players/not-a-uuid")),
    ];
    let mut statuses = Vec::new();
    for request in answers {
        let response = request.header("Origin", PAGE).send().await.unwrap();
        statuses.push(response.status().as_u16());
        assert_eq!(
            cors_headers(&response),
            readable_by(PAGE),
            "{}",
            response.url()
        );
    }
    assert_eq!(statuses, [200, 200, 201, 401, 401, 400]);
}

#[tokio::test]
async fn anyone_else_gets_exactly_the_answer_without_cors_plus_vary() {
    let app = spawn_app_with("cors = { allowed_origins = [\"https://app.example.com\"] }").await;
    let plain = spawn_app().await;
    for origin in [
        "https://evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.example",
        "null",
        "not an origin",
    ] {
        for (path, _) in ROUTES {
            let response = preflight(&app, path, origin, "POST").await;
            let expected = preflight(&plain, path, origin, "POST").await;
            assert_eq!(response.status(), expected.status(), "{origin} {path}");
            assert_ne!(response.status(), 403);
            for name in ["allow", "content-type", "www-authenticate", "cache-control"] {
                assert_eq!(
                    header(response.headers(), name),
                    header(expected.headers(), name),
                    "{origin} {path} {name}"
                );
            }
            assert_eq!(
                cors_headers(&response),
                expect(&[("vary", "Origin")]),
                "{origin} {path}"
            );
            assert_eq!(
                response.text().await.unwrap(),
                expected.text().await.unwrap(),
                "{origin} {path}"
            );
        }
        // Same-origin pages (Swagger UI) keep working: a POST with an unlisted Origin.
        let response = app
            .http
            .post(app.token_url())
            .header("Origin", origin)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
        assert_eq!(cors_headers(&response), expect(&[("vary", "Origin")]));
    }
    // No Origin at all: the answer varies on it all the same (a cache must not serve a
    // CORS answer to a request without one).
    let response = app.get("/players").await;
    assert_eq!(cors_headers(&response), expect(&[("vary", "Origin")]));
    // Routes outside the API get nothing.
    for path in ["/health", "/metrics", "/swagger"] {
        let response = app
            .http
            .get(app.url(path))
            .header("Origin", "https://app.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(cors_headers(&response), expect(&[]), "{path}");
    }
}

#[tokio::test]
async fn a_wildcard_answers_star_and_never_allows_credentials() {
    let app = spawn_app_with("cors = { allowed_origins = [\"*\"] }").await;
    let response = preflight(&app, "/players", "https://anyone.example", "POST").await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some("*")
    );
    let response = app
        .http
        .get(app.url("/players"))
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(cors_headers(&response), readable_by("*"));
}

#[test]
fn allowed_origins_must_be_origins() {
    for (entries, expected) in [
        (
            "[\"https://app.example.com/path\"]",
            "cors.allowed_origins[0]",
        ),
        (
            "[\"https://a.example\", \"app.example.com\"]",
            "cors.allowed_origins[1]",
        ),
        ("[\"null\"]", "cors.allowed_origins[0]"),
        ("[\"https://a.example?x=1\"]", "cors.allowed_origins[0]"),
        ("[\"ftp://a.example\"]", "cors.allowed_origins[0]"),
        ("[\"https://user:pw@a.example\"]", "cors.allowed_origins[0]"),
        ("[\"*\", \"https://a.example\"]", "\"*\""),
    ] {
        let toml = config_toml_with(
            "sqlite::memory:",
            &format!("cors = {{ allowed_origins = {entries} }}"),
        );
        let error = players_api::Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{entries}: {error}");
        assert!(!error.contains("pw@"), "{error}");
    }
}

/// Refusals the framework makes before any handler runs still reach a listed page with
/// its CORS headers (so the page can read why); an `OPTIONS` that is not a preflight is
/// answered as without CORS; a path outside the routes gets nothing.
#[tokio::test]
async fn a_listed_origin_can_read_every_refusal() {
    let app = spawn_app_with(
        "cors = { allowed_origins = [\"https://app.example.com\"] }\nlimits = { body_bytes = 1024 }",
    )
    .await;
    let requests = [
        (app.http.patch(app.url("/players")), 405),
        (app.http.request(Method::OPTIONS, app.url("/players")), 405),
        (
            app.http
                .post(app.url("/players"))
                .header("Content-Type", "application/json")
                .body("x".repeat(2048)),
            413,
        ),
        (
            app.http
                .post(app.token_url())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("x".repeat(2048)),
            413,
        ),
    ];
    for (request, status) in requests {
        let response = request.header("Origin", PAGE).send().await.unwrap();
        assert_eq!(response.status(), status, "{}", response.url());
        assert_eq!(
            cors_headers(&response),
            readable_by(PAGE),
            "{}",
            response.url()
        );
    }
    let response = preflight(&app, "/players/", PAGE, "POST").await;
    assert_eq!(response.status(), 404);
    assert_eq!(cors_headers(&response), expect(&[]));
}
