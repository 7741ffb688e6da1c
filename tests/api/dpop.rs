//! DPoP (RFC 9449): a token bound to the client's key at the token endpoint, accepted on
//! writes only with a fresh proof of that key; every 401 offers both schemes.

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use players_api::auth::token::now_seconds;
use poem_bearer::{dpop::token_hash, keys::PublicJwk};
use serde_json::{Value, json};

use crate::helpers::*;

const DPOP_CHALLENGE: &str = "DPoP realm=\"players\", algs=\"EdDSA ES256 ES384 RS256 PS256\"";

/// A client's DPoP key pair.
pub struct ProofKey {
    key: EncodingKey,
    jwk: Jwk,
}

impl ProofKey {
    pub fn new() -> Self {
        use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let key = EncodingKey::from_ed_der(pkcs8.as_ref());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        ProofKey { key, jwk }
    }

    pub fn thumbprint(&self) -> String {
        PublicJwk::parse(&serde_json::to_value(&self.jwk).unwrap())
            .unwrap()
            .thumbprint()
            .unwrap()
    }

    /// A proof for `method` `url`, for `token` when given, with `patch` applied to its
    /// claims.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>, patch: Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url,
            "iat": now_seconds(),
        });
        if let Some(token) = token {
            claims["ath"] = token_hash(token).into();
        }
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

const SECRET_FORM: [(&str, &str); 3] = [
    ("grant_type", "client_credentials"),
    ("client_id", CLIENT_ID),
    ("client_secret", CLIENT_SECRET),
];

/// A token request by the development client with `proof` in a `DPoP` header.
async fn grant_with(app: &TestApp, proofs: &[&str]) -> reqwest::Response {
    let mut request = app.http.post(app.token_url()).form(&SECRET_FORM);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

/// A DPoP-bound token for the development client.
async fn bound_token(app: &TestApp, key: &ProofKey) -> String {
    let response = grant_with(
        app,
        &[&key.proof("POST", &app.token_url(), None, json!({}))],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn create(
    app: &TestApp,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
    squad: i64,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/players"))
        .header("Authorization", format!("{scheme} {token}"))
        .json(&player_body(squad));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_bound_token_writes_with_a_fresh_proof_and_a_replayed_proof_is_refused() {
    let app = spawn_app().await;
    let key = ProofKey::new();
    let token = bound_token(&app, &key).await;
    assert_eq!(claims_of(&token)["cnf"], json!({ "jkt": key.thumbprint() }));

    let players = app.url("/players");
    let proof = key.proof("POST", &players, Some(&token), json!({}));
    assert_eq!(
        create(&app, "DPoP", &token, Some(&proof), 70)
            .await
            .status(),
        201
    );
    let replayed = create(&app, "DPoP", &token, Some(&proof), 71).await;
    assert_eq!(
        challenges(&replayed),
        [
            format!(
                "{DPOP_CHALLENGE}, error=\"invalid_dpop_proof\", error_description=\"The DPoP proof was used before\""
            ),
            "Bearer realm=\"players\"".to_owned(),
        ]
    );
    let body = problem(replayed, 401).await;
    assert_eq!(body["error"], "invalid_dpop_proof");
    // Another fresh proof works again.
    let fresh = key.proof("POST", &players, Some(&token), json!({}));
    assert_eq!(
        create(&app, "DPoP", &token, Some(&fresh), 71)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn proofs_must_name_this_request_this_token_and_the_bound_key() {
    let app = spawn_app().await;
    let key = ProofKey::new();
    let token = bound_token(&app, &key).await;
    let players = app.url("/players");
    let other_key = ProofKey::new();
    for (proof, description) in [
        (None, "A DPoP proof is required"),
        (
            Some(key.proof("PUT", &players, Some(&token), json!({}))),
            "The DPoP proof's htm is not this request's method",
        ),
        (
            Some(key.proof("POST", &app.url("/players/other"), Some(&token), json!({}))),
            "The DPoP proof's htu is not this request's URL",
        ),
        (
            Some(key.proof(
                "POST",
                "https://elsewhere.example/players",
                Some(&token),
                json!({}),
            )),
            "The DPoP proof's htu is not this request's URL",
        ),
        (
            Some(key.proof("POST", &players, Some("another token"), json!({}))),
            "The DPoP proof's ath is not the access token's hash",
        ),
        (
            Some(key.proof(
                "POST",
                &players,
                Some(&token),
                json!({ "iat": now_seconds() - 300 }),
            )),
            "The DPoP proof's iat is missing or too far from now",
        ),
        (
            Some(other_key.proof("POST", &players, Some(&token), json!({}))),
            "The DPoP proof's key is not the one the token is bound to",
        ),
    ] {
        let response = create(&app, "DPoP", &token, proof.as_deref(), 72).await;
        let first = challenges(&response)[0].clone();
        let body = problem(response, 401).await;
        assert_eq!(body["error"], "invalid_dpop_proof", "{description}");
        assert_eq!(body["detail"], description);
        assert!(first.starts_with("DPoP realm="), "{first}");
    }
    // The query does not count, and htu is compared normalised.
    let normalised = key.proof(
        "POST",
        &players.replace("http://", "HTTP://"),
        Some(&token),
        json!({}),
    );
    let response = app
        .http
        .post(app.url("/players?x=1"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", normalised)
        .json(&player_body(72))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn bound_tokens_go_with_dpop_and_unbound_ones_with_bearer() {
    let app = spawn_app().await;
    let key = ProofKey::new();
    let bound = bound_token(&app, &key).await;
    let as_bearer = create(&app, "Bearer", &bound, None, 73).await;
    assert_eq!(
        challenges(&as_bearer),
        [
            "Bearer realm=\"players\", error=\"invalid_token\", error_description=\"The access token is bound to a DPoP key: send it as DPoP, with a proof\"".to_owned(),
            DPOP_CHALLENGE.to_owned(),
        ]
    );
    problem(as_bearer, 401).await;

    let unbound = app.token().await;
    let proof = key.proof("POST", &app.url("/players"), Some(&unbound), json!({}));
    let as_dpop = create(&app, "DPoP", &unbound, Some(&proof), 73).await;
    assert_eq!(
        challenges(&as_dpop),
        [
            format!(
                "{DPOP_CHALLENGE}, error=\"invalid_token\", error_description=\"The access token is not DPoP-bound: send it as Bearer\""
            ),
            "Bearer realm=\"players\"".to_owned(),
        ]
    );
    // The unbound token still works as Bearer: the refused request used nothing up.
    assert_eq!(
        create(&app, "Bearer", &unbound, None, 73).await.status(),
        201
    );
}

#[tokio::test]
async fn every_401_offers_both_schemes_the_one_used_first() {
    let app = spawn_app().await;
    let none = app
        .http
        .post(app.url("/players"))
        .json(&player_body(74))
        .send()
        .await
        .unwrap();
    assert_eq!(
        challenges(&none),
        ["Bearer realm=\"players\"", DPOP_CHALLENGE]
    );
    let basic = app
        .http
        .post(app.url("/players"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .json(&player_body(74))
        .send()
        .await
        .unwrap();
    assert_eq!(
        challenges(&basic),
        ["Bearer realm=\"players\"", DPOP_CHALLENGE]
    );
    let forged = create(&app, "DPoP", "a.b.c", None, 74).await;
    let shown = challenges(&forged);
    assert!(
        shown[0].starts_with(&format!("{DPOP_CHALLENGE}, error=\"invalid_token\"")),
        "{shown:?}"
    );
    assert_eq!(shown[1], "Bearer realm=\"players\"");
}

#[tokio::test]
async fn a_dpop_token_without_the_scope_gets_403_on_the_dpop_challenge() {
    let app = spawn_app_with(
        "[[default.clients]]\nclient_id = \"deleter\"\nclient_secret = \"deleter-secret\"\nscopes = [\"players:delete\"]\n",
    )
    .await;
    let key = ProofKey::new();
    let response = app
        .http
        .post(app.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "deleter"),
            ("client_secret", "deleter-secret"),
        ])
        .header("DPoP", key.proof("POST", &app.token_url(), None, json!({})))
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = key.proof("POST", &app.url("/players"), Some(&token), json!({}));
    let response = create(&app, "DPoP", &token, Some(&proof), 75).await;
    assert_eq!(
        challenges(&response),
        [
            format!(
                "{DPOP_CHALLENGE}, error=\"insufficient_scope\", scope=\"players:create api:write\""
            ),
            "Bearer realm=\"players\"".to_owned(),
        ]
    );
    problem(response, 403).await;
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_proofs_before_the_client_and_uncounted() {
    let app = spawn_app_with("[default.throttle]\nmax_failures = 1\nwindow_seconds = 60\n").await;
    let key = ProofKey::new();
    let token_url = app.token_url();
    for (proofs, description) in [
        (
            vec![key.proof(
                "POST",
                "https://elsewhere.example/auth/token",
                None,
                json!({}),
            )],
            "The DPoP proof's htu is not this request's URL",
        ),
        (
            vec![key.proof("GET", &token_url, None, json!({}))],
            "The DPoP proof's htm is not this request's method",
        ),
        (
            vec![
                key.proof("POST", &token_url, None, json!({})),
                key.proof("POST", &token_url, None, json!({})),
            ],
            "The request carries more than one DPoP header; send one",
        ),
        (vec!["not-a-jwt".to_owned()], "The DPoP proof is not a JWT"),
    ] {
        // A wrong secret too: the proof is refused first, and nothing is counted.
        let mut request = app.http.post(&token_url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ]);
        for proof in &proofs {
            request = request.header("DPoP", proof);
        }
        let body = oauth_error(request.send().await.unwrap(), 400, "invalid_dpop_proof").await;
        assert_eq!(body["error_description"], description);
    }
    let proof = key.proof("POST", &token_url, None, json!({}));
    assert_eq!(
        grant_with(&app, &[&proof]).await.status(),
        200,
        "never throttled"
    );
    let replayed = grant_with(&app, &[&proof]).await;
    let body = oauth_error(replayed, 400, "invalid_dpop_proof").await;
    assert_eq!(body["error_description"], "The DPoP proof was used before");
}

#[tokio::test]
async fn a_client_registered_for_bound_tokens_must_send_a_proof() {
    let app = spawn_app_with(
        "[[default.clients]]\nclient_id = \"bound\"\nclient_secret = \"bound-secret\"\ndpop_bound_access_tokens = true\n",
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "bound"),
        ("client_secret", "bound-secret"),
    ];
    let without = app
        .http
        .post(app.token_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    let body = oauth_error(without, 400, "invalid_dpop_proof").await;
    assert_eq!(body["error_description"], "A DPoP proof is required");
    // Checked after the client: a wrong secret is still invalid_client.
    let wrong = app
        .http
        .post(app.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "bound"),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(wrong, 401, "invalid_client").await;
    let key = ProofKey::new();
    let with = app
        .http
        .post(app.token_url())
        .form(&form)
        .header("DPoP", key.proof("POST", &app.token_url(), None, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(with.json::<Value>().await.unwrap()["token_type"], "DPoP");
}

const NONCES: &str =
    "[default.dpop]\nrequire_nonce = true\nnonce_key = \"a nonce key shared by every instance!\"\n";

fn nonce_of(response: &reqwest::Response) -> String {
    header(response.headers(), "dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned()
}

#[tokio::test]
async fn with_nonces_required_a_proof_without_one_gets_a_nonce_to_retry_with() {
    let (a, b) = (spawn_app_with(NONCES).await, spawn_app_with(NONCES).await);
    let key = ProofKey::new();
    let first = grant_with(&a, &[&key.proof("POST", &a.token_url(), None, json!({}))]).await;
    let nonce = nonce_of(&first);
    let body = oauth_error(first, 400, "use_dpop_nonce").await;
    assert_eq!(
        body["error_description"],
        "The DPoP proof must carry the nonce in the DPoP-Nonce header"
    );
    // The nonce is checked last: a proof wrong otherwise is told so.
    let wrong = key.proof(
        "POST",
        "https://elsewhere.example/auth/token",
        None,
        json!({}),
    );
    oauth_error(grant_with(&a, &[&wrong]).await, 400, "invalid_dpop_proof").await;

    // Another instance with the same key takes the nonce.
    let with_nonce = key.proof("POST", &b.token_url(), None, json!({ "nonce": nonce }));
    let response = grant_with(&b, &[&with_nonce]).await;
    assert_eq!(response.status(), 200);
    assert!(
        !nonce_of(&response).is_empty(),
        "every answer to a proof carries one"
    );
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let players = b.url("/players");
    let without = create(
        &b,
        "DPoP",
        &token,
        Some(&key.proof("POST", &players, Some(&token), json!({}))),
        76,
    )
    .await;
    let fresh = nonce_of(&without);
    let shown = challenges(&without);
    assert_eq!(
        shown[0],
        format!(
            "{DPOP_CHALLENGE}, error=\"use_dpop_nonce\", error_description=\"The DPoP proof must carry the nonce in the DPoP-Nonce header\""
        )
    );
    problem(without, 401).await;
    let proof = key.proof("POST", &players, Some(&token), json!({ "nonce": fresh }));
    let created = create(&b, "DPoP", &token, Some(&proof), 76).await;
    assert_eq!(created.status(), 201);
    nonce_of(&created);
    // A request without a proof gets no nonce.
    assert!(header(a.get("/players").await.headers(), "dpop-nonce").is_none());
}

#[test]
fn nonces_need_a_long_enough_key() {
    use players_api::Config;
    let base = config_toml_with("sqlite::memory:", "");
    let missing = Config::from_toml_str(
        &format!("{base}\n[default.dpop]\nrequire_nonce = true\n"),
        "debug",
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("dpop.nonce_key is required"), "{missing}");
    assert!(missing.contains("APP_DPOP__NONCE_KEY"), "{missing}");
    let short = Config::from_toml_str(
        &format!("{base}\n[default.dpop]\nrequire_nonce = true\nnonce_key = \"short-secret\"\n"),
        "debug",
    )
    .unwrap_err()
    .to_string();
    assert!(
        short.contains("dpop.nonce_key is 12 bytes long; it needs at least 32"),
        "{short}"
    );
    assert!(!short.contains("short-secret"), "{short}");
}

#[tokio::test]
async fn a_request_refused_for_its_replayed_proof_leaves_its_assertion_usable() {
    use crate::assertion::{ASSERTION_TYPE, claims, client_key, key_client, sign};
    let client = client_key(Algorithm::EdDSA, None);
    let app = spawn_app_with(&key_client("signer", &[&client.jwk], "")).await;
    let key = ProofKey::new();
    let grant = |assertion: String, proof: String| {
        let app = &app;
        async move {
            app.http
                .post(app.token_url())
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ])
                .header("DPoP", proof)
                .send()
                .await
                .unwrap()
        }
    };
    let proof = key.proof("POST", &app.token_url(), None, json!({}));
    let first = grant(sign(&client, &claims("signer")), proof.clone()).await;
    assert_eq!(first.status(), 200);
    let assertion = sign(&client, &claims("signer"));
    let replayed_proof = grant(assertion.clone(), proof).await;
    oauth_error(replayed_proof, 400, "invalid_dpop_proof").await;
    let fresh = key.proof("POST", &app.token_url(), None, json!({}));
    assert_eq!(grant(assertion, fresh).await.status(), 200);
}

/// Proofs name the URL their client used; a server listening on every address without
/// `public_url` cannot know it, and says so at start-up.
#[test]
fn listening_on_every_address_without_public_url_warns_that_proofs_cannot_match() {
    const CONFIG: &str = "address = \"0.0.0.0\"\n[default.jwt]\n\
        key = \"0123456789abcdef0123456789abcdef\"\nissuer = \"i\"\naudience = \"a\"\n\
        [[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n";
    let server = crate::process::ServerProcess::start(CONFIG);
    let log = server.log();
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains("public_url is not set and the server listens on every address"),
        "{log}"
    );
    let with_url = crate::process::ServerProcess::start(&format!(
        "public_url = \"https://players.example.com\"\n{CONFIG}"
    ));
    assert!(
        !with_url.log().contains("public_url is not set"),
        "{}",
        with_url.log()
    );
}

/// RFC 9449 asks that a proof not be accepted twice; a write refused for its body was not
/// carried out, so its proof is taken back and works with the corrected body.
#[tokio::test]
async fn a_write_refused_for_its_body_leaves_its_proof_usable() {
    let app = spawn_app().await;
    let key = ProofKey::new();
    let token = bound_token(&app, &key).await;
    let proof = key.proof("POST", &app.url("/players"), Some(&token), json!({}));
    let send = |body: Value| {
        app.http
            .post(app.url("/players"))
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", proof.clone())
            .json(&body)
            .send()
    };
    let mut invalid = player_body(77);
    invalid["squadNumber"] = 0.into();
    assert_eq!(send(invalid).await.unwrap().status(), 422);
    assert_eq!(send(player_body(77)).await.unwrap().status(), 201);
    // Carried out, it is used up.
    let again = send(player_body(78)).await.unwrap();
    assert_eq!(problem(again, 401).await["error"], "invalid_dpop_proof");
}
