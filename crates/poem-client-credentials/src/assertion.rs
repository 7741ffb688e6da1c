//! `private_key_jwt`: a client authenticates with a JWT it signs with its private key
//! (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9). The server holds only
//! the client's public keys, so nothing secret changes hands when keys rotate.
//!
//! The checks, in order: the header names an asymmetric algorithm and no embedded key;
//! the client its `iss` names exists and may use this method; the key (by `kid`, or the
//! client's only key) verifies the signature with its own algorithm; then the claims:
//! `sub` = `iss`, `exp` at most [`LEEWAY_SECONDS`] past and at most
//! [`MAX_LIFETIME_SECONDS`] ahead, `iat`/`nbf` not in the future, `aud` naming this
//! server, a `jti`. Claims are read only once the signature holds, so what a refusal
//! says about them is told only to the key's holder. The `jti` is then the endpoint's to
//! record (single use until `exp` + [`LEEWAY_SECONDS`]): it records it last, once the
//! whole request is good.

use jsonwebtoken::dangerous::insecure_decode_claims;
use poem_bearer::{
    jws::Jws,
    keys::{PUBLIC_KEY_ALGORITHMS, PublicJwk},
};
use serde::Deserialize;

use crate::clients::Refusal;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The clock skew allowed on `exp`, `iat` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// How far ahead an assertion's `exp` may be: an hour, plus the leeway (authlib signs
/// `exp = iat + 3600`).
pub const MAX_LIFETIME_SECONDS: u64 = 3_660;

/// The longest `jti` accepted: it is kept until the assertion expires.
pub const MAX_JTI_BYTES: usize = 256;

/// What an assertion's `aud` must name.
#[derive(Debug, Clone)]
pub struct AssertionAudience {
    /// The issuer identifier: always accepted.
    pub issuer: String,
    /// The token endpoint's URL: accepted unless `strict`.
    pub token_endpoint: String,
    /// Only the issuer identifier, as a single string (the RFC 7523 update in progress,
    /// FAPI 2.0): an assertion made for one server cannot be replayed at another that
    /// shares a token endpoint URL pattern.
    pub strict: bool,
}

/// An assertion that passed every check but the single use of its `jti`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// Its `jti`.
    pub jti: String,
    /// Until when (Unix seconds) the `jti` must stay unusable: `exp` + the leeway.
    pub replay_until: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    jti: Option<String>,
}

/// Whether a `jti` can be kept: not empty, at most [`MAX_JTI_BYTES`], and no control
/// characters (which a database's text type may refuse).
pub fn usable_jti(jti: &str) -> bool {
    !jti.is_empty() && jti.len() <= MAX_JTI_BYTES && !jti.chars().any(char::is_control)
}

/// The client an assertion says it comes from (its `iss`), read without verifying it:
/// only to find the client whose keys then verify it.
pub fn claimed_client(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    insecure_decode_claims::<Issuer>(assertion).ok()?.iss
}

/// Verifies `assertion` with one of `keys` (a client's) and checks its claims at `now`
/// (Unix seconds).
pub fn verify(
    assertion: &str,
    keys: &[std::sync::Arc<PublicJwk>],
    audience: &AssertionAudience,
    now: u64,
) -> Result<VerifiedAssertion, Refusal> {
    let jws = Jws::parse(assertion).map_err(|_| Refusal::MalformedAssertion)?;
    // A key is taken only from the client's registration, never from the assertion
    // (RFC 8725 §3.10).
    if ["jwk", "jku", "x5u", "x5c", "crit"]
        .iter()
        .any(|member| jws.header.contains_key(*member))
    {
        return Err(Refusal::MalformedAssertion);
    }
    let found = match jws.header_str("kid") {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    };
    let Some(key) = found else {
        // As slow as a bad signature, so timing does not tell an unknown key (or, with
        // no keys given, an unknown client) from a known one.
        spend_a_verification(&jws);
        return Err(Refusal::UnknownKey);
    };
    if key.key.algorithm != jws.alg {
        spend_a_verification(&jws);
        return Err(Refusal::BadSignature);
    }
    let claims: Claims = jws.verify(&key.key.key).ok_or(Refusal::BadSignature)?;
    check_claims(claims, audience, now)
}

/// Verifies `jws` with a key nobody holds, of its algorithm: the work a refusal for a
/// bad signature costs.
fn spend_a_verification(jws: &Jws<'_>) {
    if let Some(decoy) = decoys().iter().find(|k| k.key.algorithm == jws.alg) {
        let _ = jws.verify::<Claims>(&decoy.key.key);
    }
}

/// One public key per algorithm, of key pairs made here and thrown away. Made once, when
/// the first registry with client keys is built (an RSA key takes a moment).
pub(crate) fn decoys() -> &'static [PublicJwk] {
    static DECOYS: std::sync::OnceLock<Vec<PublicJwk>> = std::sync::OnceLock::new();
    DECOYS.get_or_init(|| {
        PUBLIC_KEY_ALGORITHMS
            .iter()
            .filter_map(|algorithm| decoy(*algorithm))
            .collect()
    })
}

fn decoy(algorithm: jsonwebtoken::Algorithm) -> Option<PublicJwk> {
    use aws_lc_rs::{
        encoding::AsDer,
        rand::SystemRandom,
        rsa::{KeyPair, KeySize},
        signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
            Ed25519KeyPair,
        },
    };
    use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
    let rng = SystemRandom::new();
    let key = match algorithm {
        Algorithm::EdDSA => {
            EncodingKey::from_ed_der(Ed25519KeyPair::generate_pkcs8v1(&rng).ok()?.as_ref())
        }
        Algorithm::ES256 => EncodingKey::from_ec_der(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .ok()?
                .as_ref(),
        ),
        Algorithm::ES384 => EncodingKey::from_ec_der(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .ok()?
                .as_ref(),
        ),
        Algorithm::RS256 | Algorithm::PS256 => {
            let der = KeyPair::generate(KeySize::Rsa2048).ok()?.as_der().ok()?;
            let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
            EncodingKey::from_rsa_pem(pem.as_bytes()).ok()?
        }
        _ => return None,
    };
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&key, algorithm).ok()?).ok()?;
    jwk["alg"] = format!("{algorithm:?}").into();
    PublicJwk::parse(&jwk).ok()
}

fn check_claims(
    claims: Claims,
    audience: &AssertionAudience,
    now: u64,
) -> Result<VerifiedAssertion, Refusal> {
    let (Some(iss), Some(sub)) = (&claims.iss, &claims.sub) else {
        return Err(Refusal::MissingClaim);
    };
    if iss != sub {
        return Err(Refusal::Subject);
    }
    let exp = claims.exp.ok_or(Refusal::MissingClaim)?;
    let now = now as f64;
    let leeway = LEEWAY_SECONDS as f64;
    if exp + leeway < now {
        return Err(Refusal::Expired);
    }
    if exp > now + MAX_LIFETIME_SECONDS as f64 {
        return Err(Refusal::Lifetime);
    }
    if [claims.iat, claims.nbf]
        .iter()
        .flatten()
        .any(|t| *t > now + leeway)
    {
        return Err(Refusal::NotYetValid);
    }
    let names_us = match (&claims.aud, audience.strict) {
        (Some(Audience::One(aud)), true) => *aud == audience.issuer,
        (Some(Audience::One(aud)), false) => {
            *aud == audience.issuer || *aud == audience.token_endpoint
        }
        (Some(Audience::Many(auds)), false) => auds
            .iter()
            .any(|aud| *aud == audience.issuer || *aud == audience.token_endpoint),
        (Some(Audience::Many(_)), true) | (None, _) => false,
    };
    if !names_us {
        return Err(Refusal::Audience);
    }
    let jti = claims
        .jti
        .filter(|j| usable_jti(j))
        .ok_or(Refusal::MissingClaim)?;
    Ok(VerifiedAssertion {
        jti,
        // The first whole second at which the assertion is refused as expired: the cache
        // forgets an entry once `now` reaches it, so at `exp` + leeway it still counts.
        replay_until: (exp.floor().max(0.0) as u64).saturating_add(LEEWAY_SECONDS + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;

    fn audience(strict: bool) -> AssertionAudience {
        AssertionAudience {
            issuer: "https://as.example".into(),
            token_endpoint: "https://as.example/auth/token".into(),
            strict,
        }
    }

    fn claims(value: serde_json::Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "iss": "c", "sub": "c", "aud": "https://as.example",
            "exp": NOW + 300, "iat": NOW, "jti": "j1",
        })
    }

    fn check(patch: serde_json::Value, strict: bool) -> Result<VerifiedAssertion, Refusal> {
        let mut value = good();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                value.as_object_mut().unwrap().remove(k);
            } else {
                value[k] = v.clone();
            }
        }
        check_claims(claims(value), &audience(strict), NOW)
    }

    #[test]
    fn each_claim_rule_refuses_with_its_own_reason() {
        use serde_json::json;
        assert_eq!(
            check(json!({}), false),
            Ok(VerifiedAssertion {
                jti: "j1".into(),
                replay_until: NOW + 361
            })
        );
        for (patch, strict, refusal) in [
            (json!({ "sub": "d" }), false, Refusal::Subject),
            (json!({ "sub": null }), false, Refusal::MissingClaim),
            (json!({ "iss": null }), false, Refusal::MissingClaim),
            (json!({ "exp": null }), false, Refusal::MissingClaim),
            (json!({ "exp": NOW - 61 }), false, Refusal::Expired),
            (json!({ "exp": NOW + 3661 }), false, Refusal::Lifetime),
            (json!({ "iat": NOW + 61 }), false, Refusal::NotYetValid),
            (json!({ "nbf": NOW + 61 }), false, Refusal::NotYetValid),
            (
                json!({ "aud": "https://other.example" }),
                false,
                Refusal::Audience,
            ),
            (json!({ "aud": null }), false, Refusal::Audience),
            (
                json!({ "aud": "https://as.example/auth/token" }),
                true,
                Refusal::Audience,
            ),
            (
                json!({ "aud": ["https://as.example"] }),
                true,
                Refusal::Audience,
            ),
            (json!({ "jti": null }), false, Refusal::MissingClaim),
            (json!({ "jti": "" }), false, Refusal::MissingClaim),
            (json!({ "jti": "a\u{0}b" }), false, Refusal::MissingClaim),
            (
                json!({ "jti": "j".repeat(MAX_JTI_BYTES + 1) }),
                false,
                Refusal::MissingClaim,
            ),
        ] {
            assert_eq!(
                check(patch.clone(), strict),
                Err(refusal),
                "{patch} strict={strict}"
            );
        }
        for (patch, strict) in [
            (json!({ "exp": NOW - 60 }), false),
            (json!({ "exp": NOW + 3660 }), false),
            (json!({ "iat": NOW + 60, "nbf": NOW + 60 }), false),
            (json!({ "aud": "https://as.example/auth/token" }), false),
            (
                json!({ "aud": ["x", "https://as.example/auth/token"] }),
                false,
            ),
            (json!({ "aud": "https://as.example" }), true),
            (json!({ "exp": (NOW + 10) as f64 + 0.5 }), false),
        ] {
            assert!(
                check(patch.clone(), strict).is_ok(),
                "{patch} strict={strict}"
            );
        }
    }

    /// An assertion still accepted in the last second of its leeway is still single-use
    /// then: its entry must outlive that second.
    #[test]
    fn an_assertion_in_its_last_second_is_still_single_use() {
        use poem_bearer::replay::{MemoryReplayCache, ReplayError};
        let exp = NOW;
        let last = exp + LEEWAY_SECONDS;
        let claims = claims(serde_json::json!({
            "iss": "c", "sub": "c", "aud": "https://as.example", "exp": exp, "jti": "j",
        }));
        let verified = check_claims(claims, &audience(false), last).unwrap();
        let cache = MemoryReplayCache::new(10);
        assert_eq!(
            cache.record_at("c", "j", verified.replay_until, last),
            Ok(())
        );
        assert_eq!(
            cache.record_at("c", "j", verified.replay_until, last),
            Err(ReplayError::Replayed)
        );
    }

    #[test]
    fn every_algorithm_has_a_decoy_so_unknown_keys_cost_a_verification() {
        let algorithms: Vec<_> = decoys().iter().map(|k| k.key.algorithm).collect();
        assert_eq!(algorithms, PUBLIC_KEY_ALGORITHMS);
    }

    proptest! {
        /// Whatever the `exp`, an accepted assertion's `jti` is kept at least until the
        /// assertion would be refused as expired.
        #[test]
        fn an_accepted_jti_is_kept_until_the_assertion_expires(offset in -60.0f64..3660.0) {
            let exp = NOW as f64 + offset;
            let verified = check(serde_json::json!({ "exp": exp }), false).unwrap();
            // Strictly after: the cache forgets an entry once `now` reaches its end.
            prop_assert!(verified.replay_until as f64 > exp + LEEWAY_SECONDS as f64);
        }
    }
}
