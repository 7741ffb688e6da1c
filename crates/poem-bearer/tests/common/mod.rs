//! A test issuer: a discovery document and a JWKS served on port 0, Ed25519 keys, and
//! tokens signed with them.

#![allow(dead_code)]

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{
    EndpointExt, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use serde_json::{Value, json};

/// An Ed25519 key of the issuer.
pub struct Key {
    pub kid: String,
    pub key: EncodingKey,
    pub jwk: Value,
}

pub fn key(kid: &str) -> Key {
    use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap()).unwrap();
    jwk["kid"] = kid.into();
    Key {
        kid: kid.to_owned(),
        key,
        jwk,
    }
}

/// What the issuer serves; tests change it as they go.
pub struct State {
    /// The `issuer` of the discovery document.
    pub issuer: Mutex<String>,
    pub keys: Mutex<Vec<Value>>,
    /// Extra response headers of the JWKS.
    pub jwks_headers: Mutex<Vec<(&'static str, String)>>,
    pub fetches: AtomicUsize,
    pub base: Mutex<String>,
    /// How long the JWKS takes to answer.
    pub delay: Mutex<std::time::Duration>,
}

pub struct Issuer {
    pub base: String,
    pub state: Arc<State>,
}

#[handler]
fn discovery(Data(state): Data<&Arc<State>>) -> Response {
    let base = state.base.lock().unwrap().clone();
    let body = json!({
        "issuer": *state.issuer.lock().unwrap(),
        "jwks_uri": format!("{base}/jwks"),
    });
    Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
async fn jwks(Data(state): Data<&Arc<State>>) -> Response {
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let mut response = Response::builder().content_type("application/json");
    for (name, value) in state.jwks_headers.lock().unwrap().iter() {
        response = response.header(*name, value.clone());
    }
    response.body(json!({ "keys": *state.keys.lock().unwrap() }).to_string())
}

#[handler]
fn redirect(Data(state): Data<&Arc<State>>) -> Response {
    let base = state.base.lock().unwrap().clone();
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", format!("{base}/jwks"))
        .finish()
}

#[handler]
fn huge() -> Response {
    let padding = "x".repeat(300 * 1024);
    Response::builder()
        .content_type("application/json")
        .body(format!("{{\"keys\": [], \"padding\": \"{padding}\"}}"))
}

impl Issuer {
    /// Serves `keys` as `issuer` (the discovery document's `issuer`).
    pub async fn start(issuer: &str, keys: Vec<Value>) -> Issuer {
        let state = Arc::new(State {
            issuer: Mutex::new(issuer.to_owned()),
            keys: Mutex::new(keys),
            jwks_headers: Mutex::new(Vec::new()),
            fetches: AtomicUsize::new(0),
            base: Mutex::new(String::new()),
            delay: Mutex::new(std::time::Duration::ZERO),
        });
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let base = format!("http://{address}");
        *state.base.lock().unwrap() = base.clone();
        let app = Route::new()
            .at("/.well-known/openid-configuration", discovery)
            .at("/jwks", jwks)
            .at("/redirect", redirect)
            .at("/huge", huge)
            .data(state.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Issuer { base, state }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.base)
    }

    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }
}

/// An RFC 9068 token of `issuer` for `audience`, signed by `key`.
pub fn token(key: &Key, issuer: &str, audience: &str, scope: &str) -> String {
    let now = poem_bearer::token::now_seconds();
    token_with(
        key,
        json!({
            "iss": issuer, "sub": "svc", "aud": audience, "client_id": "svc", "scope": scope,
            "iat": now, "exp": now + 300, "jti": format!("{now}"),
        }),
    )
}

/// A token with these claims, signed by `key` (typ at+jwt, its kid).
pub fn token_with(key: &Key, claims: Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.key).unwrap()
}
