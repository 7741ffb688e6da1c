//! `trusted_issuers`: writes accept tokens of other issuers, verified with keys fetched
//! from their discovery document or JWKS, cached, and refreshed on an unknown `kid`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{
    EndpointExt, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json},
};
use serde_json::{Value, json};

use crate::{helpers::*, process::ServerProcess};

/// A JWKS served by the test: its keys can be replaced, it can go down (503), and it
/// counts its fetches.
struct JwksServer {
    url: String,
    state: Arc<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: Mutex<Vec<Value>>,
    fetches: AtomicUsize,
    down: AtomicBool,
}

#[handler]
fn serve_jwks(Data(state): Data<&Arc<JwksState>>) -> poem::Result<Json<Value>> {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return Err(poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE));
    }
    Ok(Json(json!({ "keys": *state.keys.lock().unwrap() })))
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> JwksServer {
        let state = Arc::new(JwksState {
            keys: Mutex::new(keys),
            ..JwksState::default()
        });
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let app = Route::new().at("/jwks", serve_jwks).data(state.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        JwksServer {
            url: format!("http://{address}/jwks"),
            state,
        }
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }
}

/// An RSA issuer key (2048 bits, RS256), generated for the test.
struct RsaKey {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

fn rsa_key(kid: &str) -> RsaKey {
    use aws_lc_rs::{
        encoding::AsDer,
        rsa::{KeyPair, KeySize},
    };
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut jwk: Value =
        serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap()).unwrap();
    jwk["kid"] = kid.into();
    jwk["use"] = "sig".into();
    jwk["alg"] = "RS256".into();
    RsaKey {
        kid: kid.to_owned(),
        key,
        jwk,
    }
}

const RSA_ISSUER: &str = "https://id.example.com/realms/test";

/// The claims of an RFC 9068 token of `RSA_ISSUER` for this API.
fn claims(scope: &str) -> Value {
    let now = poem_bearer::token::now_seconds();
    json!({
        "iss": RSA_ISSUER, "sub": "svc", "aud": AUDIENCE, "client_id": "svc",
        "scope": scope, "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
    })
}

fn sign(key: &RsaKey, kid: &str, typ: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some(typ.to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

/// The app, trusting the JWKS at `jwks_url` for `RSA_ISSUER` (with `typ` when given).
async fn app_trusting(jwks_url: &str, typ: Option<&str>) -> TestApp {
    let typ = typ.map(|t| format!(", typ = \"{t}\"")).unwrap_or_default();
    spawn_app_with(&format!(
        "trusted_issuers = [{{ issuer = \"{RSA_ISSUER}\", jwks_url = \"{jwks_url}\", audience = \"{AUDIENCE}\"{typ} }}]"
    ))
    .await
}

async fn refused(response: reqwest::Response, description: &str) {
    let challenge = header(response.headers(), "www-authenticate")
        .unwrap()
        .to_owned();
    let body = problem(response, 401).await;
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["detail"], description);
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"players\", error=\"invalid_token\", error_description=\"{description}\""
        )
    );
}

#[tokio::test]
async fn a_second_players_api_process_is_trusted_by_its_discovery_url() {
    let generated = players_api::auth::keys::generate(Algorithm::EdDSA).unwrap();
    let issuer = ServerProcess::start(&format!(
        "address = \"127.0.0.1\"\n\
         [default.jwt]\nalgorithm = \"EdDSA\"\nprivate_key = \"\"\"\n{}\"\"\"\n\
         issuer = \"issuer-b\"\naudience = \"{AUDIENCE}\"\n\
         [[default.clients]]\nclient_id = \"svc\"\nclient_secret = \"svc-secret\"\n\
         [[default.clients]]\nclient_id = \"deleter\"\nclient_secret = \"deleter-secret\"\n\
         scopes = [\"players:delete\"]\n",
        generated.secret_or_private_pem
    ));
    let app = spawn_app_with(&format!(
        "trusted_issuers = [{{ issuer = \"issuer-b\", discovery_url = \"{}/.well-known/oauth-authorization-server\", audience = \"{AUDIENCE}\" }}]",
        issuer.base
    ))
    .await;

    let token = fetch_token(&app.http, &issuer.base, "svc", "svc-secret").await;
    let response = app.create_player(&token, &player_body(31)).await;
    assert_eq!(response.status(), 201);
    // Scopes are checked as for the API's own tokens.
    let token = fetch_token(&app.http, &issuer.base, "deleter", "deleter-secret").await;
    let response = app.create_player(&token, &player_body(32)).await;
    let body = problem(response, 403).await;
    assert_eq!(body["error"], "insufficient_scope");
    // Its own tokens still write.
    let response = app
        .create_player(&app.token().await, &player_body(33))
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn rs256_tokens_write_and_a_rotation_is_picked_up_by_the_unknown_kid() {
    let (first, second) = (rsa_key("k1"), rsa_key("k2"));
    let jwks = JwksServer::start(vec![first.jwk.clone()]).await;
    let app = app_trusting(&jwks.url, None).await;
    assert_eq!(jwks.fetches(), 1, "fetched at start-up");

    let token = sign(&first, &first.kid, "at+jwt", &claims("api:write"));
    assert_eq!(
        app.create_player(&token, &player_body(34)).await.status(),
        201
    );
    assert_eq!(jwks.fetches(), 1, "verified from the cache");

    // The issuer rotates: the first token naming the new key triggers a refresh.
    *jwks.state.keys.lock().unwrap() = vec![second.jwk.clone()];
    let token = sign(&second, &second.kid, "at+jwt", &claims("players:create"));
    assert_eq!(
        app.create_player(&token, &player_body(35)).await.status(),
        201
    );
    assert_eq!(jwks.fetches(), 2);

    // Within 10 s of that refresh, an unknown kid is refused at once, without a fetch.
    let junk = sign(&second, "junk", "at+jwt", &claims("api:write"));
    refused(
        app.create_player(&junk, &player_body(36)).await,
        "The token's key id is not one of its issuer's keys",
    )
    .await;
    assert_eq!(
        jwks.fetches(),
        2,
        "junk kids cannot make it hammer the issuer"
    );

    // A token signed by a key the issuer does not publish under that kid.
    let forged = sign(&first, &second.kid, "at+jwt", &claims("api:write"));
    refused(
        app.create_player(&forged, &player_body(36)).await,
        "The access token signature is invalid",
    )
    .await;
}

#[tokio::test]
async fn an_issuer_down_after_a_first_fetch_still_verifies_with_the_cached_keys() {
    let key = rsa_key("k1");
    let jwks = JwksServer::start(vec![key.jwk.clone()]).await;
    let app = app_trusting(&jwks.url, None).await;
    jwks.state.down.store(true, Ordering::SeqCst);
    let token = sign(&key, &key.kid, "at+jwt", &claims("api:write"));
    assert_eq!(
        app.create_player(&token, &player_body(37)).await.status(),
        201
    );
    // An unknown kid makes it try the issuer, which fails: still refused, still cached.
    let other = rsa_key("k2");
    let token = sign(&other, &other.kid, "at+jwt", &claims("api:write"));
    refused(
        app.create_player(&token, &player_body(38)).await,
        "The token's key id is not one of its issuer's keys",
    )
    .await;
    assert_eq!(jwks.fetches(), 2);
    let token = sign(&key, &key.kid, "at+jwt", &claims("api:write"));
    assert_eq!(
        app.create_player(&token, &player_body(38)).await.status(),
        201
    );
}

#[tokio::test]
async fn an_issuer_never_reached_is_logged_its_tokens_refused_and_own_tokens_unaffected() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let server = ServerProcess::start(&format!(
        "address = \"127.0.0.1\"\n\
         trusted_issuers = [{{ issuer = \"{RSA_ISSUER}\", jwks_url = \"http://127.0.0.1:1/jwks\", audience = \"{AUDIENCE}\" }}]\n\
         [default.jwt]\nkey = \"{KEY}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
         [[default.clients]]\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n"
    ));
    let log = server.log();
    assert!(
        log.contains("WARN") && log.contains("fetching a trusted issuer's keys failed"),
        "{log}"
    );
    assert!(log.contains(RSA_ISSUER), "{log}");
    let http = reqwest::Client::new();
    let key = rsa_key("k1");
    let token = sign(&key, &key.kid, "at+jwt", &claims("api:write"));
    let post = |token: String| {
        http.post(format!("{}/players", server.base))
            .bearer_auth(token)
            .json(&player_body(39))
            .send()
    };
    refused(
        post(token).await.unwrap(),
        "The keys of the token's issuer are not available",
    )
    .await;
    let own = fetch_token(&http, &server.base, CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(post(own).await.unwrap().status(), 201);
}

#[tokio::test]
async fn plain_jwts_are_accepted_only_from_an_issuer_set_to_typ_jwt() {
    let key = rsa_key("k1");
    let jwks = JwksServer::start(vec![key.jwk.clone()]).await;
    // As Keycloak and Auth0 send them: typ JWT, the client in `azp`, no `jti`.
    let now = poem_bearer::token::now_seconds();
    let keycloak = json!({
        "iss": RSA_ISSUER, "sub": "service-account-svc", "aud": AUDIENCE, "azp": "svc",
        "scope": "profile api:write", "exp": now + 300,
    });
    let token = sign(&key, &key.kid, "JWT", &keycloak);

    let strict = app_trusting(&jwks.url, None).await;
    refused(
        strict.create_player(&token, &player_body(40)).await,
        "The token is not an access token (typ must be at+jwt)",
    )
    .await;
    let lenient = app_trusting(&jwks.url, Some("JWT")).await;
    assert_eq!(
        lenient
            .create_player(&token, &player_body(40))
            .await
            .status(),
        201
    );
    // Its typ: JWT tokens still need their claims.
    let mut no_audience = keycloak.clone();
    no_audience.as_object_mut().unwrap().remove("aud");
    let token = sign(&key, &key.kid, "JWT", &no_audience);
    refused(
        lenient.create_player(&token, &player_body(41)).await,
        "The access token lacks a required claim",
    )
    .await;
    // RFC 9068 issuers' tokens need client_id, iat and jti.
    let token = sign(&key, &key.kid, "at+jwt", &keycloak);
    refused(
        strict.create_player(&token, &player_body(41)).await,
        "The access token lacks a required claim",
    )
    .await;
}

#[tokio::test]
async fn a_trusted_issuers_headers_may_name_a_certificate_but_not_embed_or_point_at_a_key() {
    let key = rsa_key("k1");
    let jwks = JwksServer::start(vec![key.jwk.clone()]).await;
    let app = app_trusting(&jwks.url, None).await;
    let signed = |edit: &dyn Fn(&mut Header)| {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        edit(&mut header);
        jsonwebtoken::encode(&header, &claims("api:write"), &key.key).unwrap()
    };
    let token = signed(&|h| {
        h.x5t = Some("bm90LWEtdGh1bWJwcmludA".into());
        h.x5t_s256 = Some("bm90LWEtdGh1bWJwcmludA".into());
    });
    assert_eq!(
        app.create_player(&token, &player_body(42)).await.status(),
        201
    );
    let edits: [&dyn Fn(&mut Header); 3] = [
        &|h| h.jku = Some("https://evil.example/jwks".into()),
        &|h| h.x5u = Some("https://evil.example/cert".into()),
        &|h| h.x5c = Some(vec!["MIIB".into()]),
    ];
    for edit in edits {
        refused(
            app.create_player(&signed(edit), &player_body(43)).await,
            "The token names a key this server does not use",
        )
        .await;
    }
    // A token is checked only against the keys of the issuer its `iss` names: signed
    // by the trusted key but naming another issuer, it goes to this server's own keys.
    let mut other = claims("api:write");
    other["iss"] = "https://other.example".into();
    let token = sign(&key, &key.kid, "at+jwt", &other);
    refused(
        app.create_player(&token, &player_body(43)).await,
        "The token's key id is not one of this server's keys",
    )
    .await;
}

#[tokio::test]
async fn trusted_issuer_settings_are_checked_at_start_up() {
    for (entry, expected) in [
        (
            "{ issuer = \"i\", jwks_url = \"http://id.example.com/jwks\", audience = \"a\" }".to_owned(),
            "trusted_issuers[0].jwks_url must be an https URL (plain http only to a loopback address)",
        ),
        (
            "{ issuer = \"i\", audience = \"a\" }".to_owned(),
            "trusted_issuers[0].discovery_url or jwks_url must be given, and not both",
        ),
        (
            format!(
                "{{ issuer = \"{ISSUER}\", jwks_url = \"https://id.example.com/jwks\", audience = \"a\" }}"
            ),
            "trusted_issuers[0].issuer is this server's own jwt.issuer",
        ),
        (
            "{ issuer = \"i\", jwks_url = \"https://id.example.com/jwks\", audience = \"a\", typ = \"jws\" }".to_owned(),
            "trusted_issuers[0].typ must be \"JWT\"",
        ),
    ] {
        let toml = config_toml_with("sqlite::memory:", &format!("trusted_issuers = [{entry}]"));
        let err = players_api::Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{entry}: {err}");
    }
    let toml = config_toml_with(
        "sqlite::memory:",
        "trusted_issuers = [{ issuer = \"i\", jwks_uri = \"https://id.example.com/jwks\", audience = \"a\" }]",
    );
    let err = players_api::Config::from_toml_str(&toml, "debug")
        .unwrap_err()
        .to_string();
    assert!(err.contains("jwks_uri"), "{err}");
}

#[tokio::test]
async fn a_trusted_issuers_token_is_never_active_for_introspection_nor_revoked_here() {
    let key = rsa_key("k1");
    let jwks = JwksServer::start(vec![key.jwk.clone()]).await;
    let app = app_trusting(&jwks.url, None).await;
    // Even naming one of this server's clients, it is not this server's token.
    let mut claims = claims("api:write");
    claims["client_id"] = CLIENT_ID.into();
    claims["sub"] = CLIENT_ID.into();
    let token = sign(&key, "k1", "at+jwt", &claims);
    assert_eq!(
        app.create_player(&token, &player_body(41)).await.status(),
        201
    );
    let form = [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("token", token.as_str()),
    ];
    let shown: Value = app
        .http
        .post(app.url("/auth/introspect"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown, json!({"active": false}));
    let revoked = app
        .http
        .post(app.url("/auth/revoke"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    // Nothing was stored: the issuer's token still writes.
    assert_eq!(
        app.create_player(&token, &player_body(42)).await.status(),
        201
    );
}
