//! DPoP (RFC 9449): tokens bound to a key the client holds. With each request the client
//! sends a *proof*, a JWT signed with that key that names the request's method and URL
//! (and, at a resource, the token's hash), so a stolen token is useless without the key.
//!
//! [`check_proof`] is the one check of a proof, for the token endpoint (which binds the
//! token it issues to the proof's key: `cnf.jkt`) and for resources (which accept a bound
//! token only with a proof of that key). The URL a proof must name is the server's own
//! public URL and the request's path — never taken from `Host` or `X-Forwarded-*`, so a
//! proof made for one host cannot be replayed at another.

use std::sync::{Arc, Mutex};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    jws::{Jws, JwsError},
    keys::PublicJwk,
    replay::ReplayCache,
};

/// The authentication scheme of DPoP-bound tokens, and the name of the proof header.
pub const DPOP: &str = "DPoP";

/// The `typ` of a proof's header.
pub const PROOF_TYPE: &str = "dpop+jwt";

/// How far a proof's `iat` may be from now, either way.
pub const PROOF_WINDOW_SECONDS: u64 = 60;

/// The longest proof `jti` accepted: it is kept for the proof's window.
pub const MAX_JTI_BYTES: usize = 256;

/// The algorithms a proof may be signed with, as a challenge's `algs` lists them.
pub const ALGORITHM_NAMES: &str = "EdDSA ES256 ES384 RS256 PS256";

/// Why a proof was refused. Each has one fixed description, safe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofError {
    /// No `DPoP` header where one is needed.
    Missing,
    /// More than one `DPoP` header.
    Several,
    /// Not a JWT, or its parts do not decode.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is not an asymmetric algorithm this server supports.
    WrongAlgorithm,
    /// The header's `jwk` is missing, private, unusable, or not of `alg`'s kind.
    BadKey,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's URL.
    WrongUrl,
    /// `iat` is missing or more than the window away from now.
    Stale,
    /// `jti` is missing, empty, too long or holds control characters.
    BadJti,
    /// `ath` is missing or not the hash of the access token sent with it.
    WrongTokenHash,
    /// The proof's key is not the one the access token is bound to.
    WrongKey,
    /// The proof's `jti` was used before within its window.
    Replayed,
}

impl ProofError {
    /// The fixed description sent as `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            ProofError::Missing => "A DPoP proof is required",
            ProofError::Several => "The request carries more than one DPoP header; send one",
            ProofError::Malformed => "The DPoP proof is not a JWT",
            ProofError::WrongType => "The DPoP proof's typ must be dpop+jwt",
            ProofError::WrongAlgorithm => {
                "The DPoP proof must be signed with EdDSA, ES256, ES384, RS256 or PS256"
            }
            ProofError::BadKey => "The DPoP proof's jwk is not a usable public key for its alg",
            ProofError::BadSignature => "The DPoP proof's signature is invalid",
            ProofError::WrongMethod => "The DPoP proof's htm is not this request's method",
            ProofError::WrongUrl => "The DPoP proof's htu is not this request's URL",
            ProofError::Stale => "The DPoP proof's iat is missing or too far from now",
            ProofError::BadJti => "The DPoP proof needs a jti of at most 256 bytes",
            ProofError::WrongTokenHash => "The DPoP proof's ath is not the access token's hash",
            ProofError::WrongKey => "The DPoP proof's key is not the one the token is bound to",
            ProofError::Replayed => "The DPoP proof was used before",
        }
    }
}

/// The response header that hands a client the nonce its next proofs must carry.
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// Server-provided nonces (RFC 9449 §8, §9): each an HMAC of the current 60-second time
/// step under a key every instance shares, so every instance accepts every instance's
/// nonces without shared state, and rotating signing keys does not disturb them. A nonce
/// of the current or the previous step is accepted.
pub struct Nonces {
    key: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces { .. }")
    }
}

impl Nonces {
    /// How long a time step lasts, in seconds.
    pub const STEP_SECONDS: u64 = 60;

    /// The shortest key accepted, in bytes.
    pub const MIN_KEY_BYTES: usize = 32;

    /// Nonces under `key` (at least [`Nonces::MIN_KEY_BYTES`] bytes; the same on every
    /// instance). The error names the field `nonce_key`, never the key.
    pub fn new(key: &[u8]) -> Result<Self, crate::SettingsError> {
        if key.len() < Self::MIN_KEY_BYTES {
            return Err(crate::SettingsError::new(
                "nonce_key",
                format!(
                    "is {} bytes long; it needs at least {}",
                    key.len(),
                    Self::MIN_KEY_BYTES
                ),
            ));
        }
        Ok(Nonces {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        })
    }

    /// The nonce of the time step `now` (Unix seconds) falls in.
    pub fn current(&self, now: u64) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(now / Self::STEP_SECONDS))
    }

    /// Whether `nonce` is the nonce of the current or the previous step at `now`.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut decoded = [0u8; 32];
        let Ok(length) = URL_SAFE_NO_PAD.decode_slice(nonce, &mut decoded) else {
            return false;
        };
        let step = now / Self::STEP_SECONDS;
        [step, step.saturating_sub(1)].iter().any(|step| {
            aws_lc_rs::constant_time::verify_slices_are_equal(&self.tag(*step), &decoded[..length])
                .is_ok()
        })
    }

    /// 128 bits of HMAC-SHA256 over a label and the step.
    fn tag(&self, step: u64) -> [u8; 16] {
        let mut context = aws_lc_rs::hmac::Context::with_key(&self.key);
        context.update(b"poem-bearer dpop nonce\0");
        context.update(&step.to_be_bytes());
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&context.sign().as_ref()[..16]);
        tag
    }
}

/// Where a guard notes the proof it recorded, so that a request refused after the guard
/// (its body invalid, the database down) can take the proof back: the proof then counts as
/// used only by a request that went through. Put in place by [`forget_refused_proofs`].
#[derive(Clone, Default)]
pub struct RecordedProof(Arc<Mutex<Option<Recorded>>>);

type Recorded = (Arc<dyn ReplayCache>, String, String);

impl RecordedProof {
    /// Notes that `jti` of `jkt` was recorded in `cache`.
    pub(crate) fn note(&self, cache: Arc<dyn ReplayCache>, jkt: &str, jti: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((cache, jkt.to_owned(), jti.to_owned()));
        }
    }

    fn take(&self) -> Option<Recorded> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// A poem middleware (`.around(forget_refused_proofs)`) for the routes the guards
/// protect: when a request whose DPoP proof a guard recorded is answered with anything
/// but a success (a 400 or 422 for its body, a 503), the proof's `jti` is taken back, so a
/// proof is used up only by a request that was carried out (RFC 9449 §11.1 asks only that
/// a proof not be accepted twice). Concurrent copies stay refused while one holds the
/// record. Place it outside the layer that turns errors into responses.
pub async fn forget_refused_proofs<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    // Only a request with a proof can have one recorded: the others pass untouched.
    if !request.headers().contains_key(DPOP) {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    }
    let slot = RecordedProof::default();
    request.extensions_mut().insert(slot.clone());
    let result = endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response);
    let carried_out = matches!(&result, Ok(response) if response.status().is_success());
    if !carried_out && let Some((cache, jkt, jti)) = slot.take() {
        cache.forget(&jkt, &jti).await;
    }
    result
}

/// A proof that passed [`check_proof`]: what a bound token and the replay cache need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 SHA-256 thumbprint of its key (base64url): a bound token's `cnf.jkt`.
    pub jkt: String,
    /// Its `jti`.
    pub jti: String,
    /// Until when (Unix seconds) its `jti` must stay unusable: the end of its window.
    pub replay_until: u64,
    /// Its `nonce`, if it has one.
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<f64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks `proof` (RFC 9449 §4.3) for a request with `method` to `url` (already
/// normalised with [`normalize_url`]), at `now` (Unix seconds). With `access_token`, the
/// proof's `ath` must be its hash. The `jti`'s single use and any server nonce are the
/// caller's to check, last.
pub fn check_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: u64,
) -> Result<Proof, ProofError> {
    let jws = Jws::parse(proof).map_err(|e| match e {
        JwsError::Malformed => ProofError::Malformed,
        JwsError::Algorithm => ProofError::WrongAlgorithm,
    })?;
    if jws.header_str("typ") != Some(PROOF_TYPE) {
        return Err(ProofError::WrongType);
    }
    // A key is taken only from `jwk`, never fetched or chained (RFC 8725 §3.10).
    if ["jku", "x5u", "x5c", "crit"]
        .iter()
        .any(|member| jws.header.contains_key(*member))
    {
        return Err(ProofError::Malformed);
    }
    // `jwk` as written: a private key's `d` must be seen to be refused.
    let key = proof_key(jws.header.get("jwk").cloned(), jws.alg)?;
    let claims: ProofClaims = jws.verify(&key.key.key).ok_or(ProofError::BadSignature)?;
    if claims.htm.as_deref() != Some(method) {
        return Err(ProofError::WrongMethod);
    }
    if claims.htu.as_deref().and_then(normalize_url).as_deref() != Some(url) {
        return Err(ProofError::WrongUrl);
    }
    let window = PROOF_WINDOW_SECONDS as f64;
    let iat = claims.iat.ok_or(ProofError::Stale)?;
    if (iat - now as f64).abs() > window {
        return Err(ProofError::Stale);
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES && !j.chars().any(char::is_control))
        .ok_or(ProofError::BadJti)?;
    if let Some(token) = access_token
        && claims.ath.as_deref() != Some(token_hash(token).as_str())
    {
        return Err(ProofError::WrongTokenHash);
    }
    let jkt = key.thumbprint().ok_or(ProofError::BadKey)?;
    Ok(Proof {
        jkt,
        jti,
        replay_until: (iat.ceil().max(0.0) as u64).saturating_add(PROOF_WINDOW_SECONDS + 1),
        nonce: claims.nonce,
    })
}

/// The proof's public key, for the header's `alg`: a key without `alg` takes the
/// header's, and one with `alg` must agree with it.
fn proof_key(jwk: Option<serde_json::Value>, alg: Algorithm) -> Result<PublicJwk, ProofError> {
    let mut jwk = jwk.filter(|j| j.is_object()).ok_or(ProofError::BadKey)?;
    if jwk.get("alg").is_none() {
        jwk["alg"] = format!("{alg:?}").into();
    }
    let key = PublicJwk::parse(&jwk).map_err(|_| ProofError::BadKey)?;
    if key.key.algorithm != alg {
        return Err(ProofError::BadKey);
    }
    Ok(key)
}

/// `ath`: the base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// An absolute http(s) URL without its query and fragment, normalised as RFC 3986
/// §6.2.2–6.2.3 say (scheme and host lower-cased, the default port dropped, dot segments
/// removed, an empty path made `/`, percent-encodings of unreserved characters decoded
/// and the others upper-cased), or `None` if it is not one.
pub fn normalize_url(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return None;
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    let path = normalize_percent_encoding(parsed.path());
    parsed.set_path(&path);
    Some(parsed.to_string())
}

/// `%7e` is `~`, `%2f` stays encoded as `%2F` (RFC 3986 §6.2.2.1–6.2.2.2).
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(byte as char);
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                let c = path[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, jwk::Jwk};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const URL: &str = "https://api.example/players";

    fn key() -> (EncodingKey, serde_json::Value) {
        use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let key = EncodingKey::from_ed_der(pkcs8.as_ref());
        let jwk = serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap());
        (key, jwk.unwrap())
    }

    fn proof(key: &EncodingKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        // The header written by hand, so tests can put anything in it.
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature =
            jsonwebtoken::crypto::sign(signed.as_bytes(), key, Algorithm::EdDSA).unwrap();
        format!("{signed}.{signature}")
    }

    fn good_claims() -> serde_json::Value {
        json!({ "jti": "p1", "htm": "POST", "htu": URL, "iat": NOW, "ath": token_hash("tok") })
    }

    #[test]
    fn a_good_proof_yields_its_key_thumbprint_and_window() {
        let (key, jwk) = key();
        let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk });
        let checked = check_proof(
            &proof(&key, header, good_claims()),
            "POST",
            URL,
            Some("tok"),
            NOW + 30,
        )
        .unwrap();
        let expected = PublicJwk::parse(
            &json!({ "alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x": jwk["x"] }),
        )
        .unwrap()
        .thumbprint()
        .unwrap();
        assert_eq!(checked.jkt, expected);
        assert_eq!(
            (checked.jti.as_str(), checked.replay_until),
            ("p1", NOW + 61)
        );
        // RFC 9864's fully-specified name, as openid-client writes it, is EdDSA too.
        let ed25519 = json!({ "typ": "dpop+jwt", "alg": "Ed25519", "jwk": jwk });
        let proof_ed25519 = proof(&key, ed25519, good_claims());
        assert!(check_proof(&proof_ed25519, "POST", URL, Some("tok"), NOW).is_ok());
        // Without an access token, `ath` is not looked at (the token endpoint).
        assert!(
            check_proof(
                &proof(
                    &key,
                    json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk }),
                    good_claims()
                ),
                "POST",
                URL,
                None,
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn each_rule_refuses_with_its_own_reason() {
        let (key, jwk) = key();
        let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk });
        let mut private = jwk.clone();
        private["d"] = jwk["x"].clone();
        let with_header = |patch: serde_json::Value| {
            let mut h = header.clone();
            for (k, v) in patch.as_object().unwrap() {
                h[k] = v.clone();
            }
            proof(&key, h, good_claims())
        };
        let with_claims = |patch: serde_json::Value| {
            let mut c = good_claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            proof(&key, header.clone(), c)
        };
        let (other, _) = self::key();
        for (proof, error) in [
            ("nope".to_owned(), ProofError::Malformed),
            (with_header(json!({ "typ": "JWT" })), ProofError::WrongType),
            (with_header(json!({ "jwk": private })), ProofError::BadKey),
            (with_header(json!({ "jwk": "x" })), ProofError::BadKey),
            (
                with_header(json!({ "alg": "HS256" })),
                ProofError::WrongAlgorithm,
            ),
            (with_header(json!({ "jwk": null })), ProofError::BadKey),
            (
                with_header(json!({ "jku": "https://x" })),
                ProofError::Malformed,
            ),
            (
                proof(&other, header.clone(), good_claims()),
                ProofError::BadSignature,
            ),
            (
                with_claims(json!({ "htm": "PUT" })),
                ProofError::WrongMethod,
            ),
            (
                with_claims(json!({ "htu": "https://other.example/players" })),
                ProofError::WrongUrl,
            ),
            (with_claims(json!({ "htu": null })), ProofError::WrongUrl),
            (with_claims(json!({ "iat": NOW - 61 })), ProofError::Stale),
            (with_claims(json!({ "iat": NOW + 61 })), ProofError::Stale),
            (with_claims(json!({ "iat": null })), ProofError::Stale),
            (with_claims(json!({ "jti": null })), ProofError::BadJti),
            (
                with_claims(json!({ "jti": "j".repeat(257) })),
                ProofError::BadJti,
            ),
            (
                with_claims(json!({ "ath": token_hash("other") })),
                ProofError::WrongTokenHash,
            ),
            (
                with_claims(json!({ "ath": null })),
                ProofError::WrongTokenHash,
            ),
        ] {
            assert_eq!(
                check_proof(&proof, "POST", URL, Some("tok"), NOW),
                Err(error),
                "{proof}"
            );
        }
        // A header `alg` the key's own `alg` contradicts.
        let mut es = jwk.clone();
        es["alg"] = "ES256".into();
        let mismatched = proof(
            &key,
            json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": es }),
            good_claims(),
        );
        assert_eq!(
            check_proof(&mismatched, "POST", URL, None, NOW),
            Err(ProofError::BadKey)
        );
    }

    #[test]
    fn nonces_last_the_current_and_the_previous_step_on_every_instance() {
        let key = [7u8; 32];
        let (one, other) = (Nonces::new(&key).unwrap(), Nonces::new(&key).unwrap());
        let nonce = one.current(NOW);
        assert!(other.accepts(&nonce, NOW), "another instance, the same key");
        assert!(other.accepts(&nonce, NOW + Nonces::STEP_SECONDS));
        assert!(!other.accepts(&nonce, NOW + 2 * Nonces::STEP_SECONDS));
        assert!(!other.accepts(&nonce, NOW - Nonces::STEP_SECONDS));
        assert!(
            !Nonces::new(&[8u8; 32]).unwrap().accepts(&nonce, NOW),
            "another key"
        );
        for junk in ["", "!!", &"A".repeat(100)] {
            assert!(!one.accepts(junk, NOW), "{junk}");
        }
        let error = Nonces::new(&[1u8; 31]).unwrap_err();
        assert_eq!(error.field(), "nonce_key");
    }

    #[test]
    fn urls_are_compared_normalised_without_query_or_fragment() {
        let expected = normalize_url(URL).unwrap();
        for same in [
            "https://api.example/players",
            "HTTPS://API.EXAMPLE/players",
            "https://api.example:443/players",
            "https://api.example/x/../players",
            "https://api.example/pl%61yers",
            "https://api.example/players?x=1#y",
        ] {
            assert_eq!(
                normalize_url(same).as_deref(),
                Some(expected.as_str()),
                "{same}"
            );
        }
        for other in [
            "http://api.example/players",
            "https://api.example:8443/players",
            "https://api.example/players/",
            "https://evil.example/players",
        ] {
            assert_ne!(
                normalize_url(other).as_deref(),
                Some(expected.as_str()),
                "{other}"
            );
        }
        assert_eq!(
            normalize_url("https://a.example/%2f%7e").as_deref(),
            Some("https://a.example/%2F~")
        );
        assert_eq!(
            normalize_url("https://a.example").as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(normalize_url("ftp://a.example/"), None);
        assert_eq!(normalize_url("/players"), None);
    }
}
