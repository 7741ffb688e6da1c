//! Public keys given as JWKs (RFC 7517): a trusted issuer's JWKS, a client's registered
//! keys, a DPoP proof's key. One set of rules for all of them.

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};

use super::{Algorithm, VerifyingKey};

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3, RFC 9700 §2.4 ask for
/// 2048).
pub const MIN_RSA_BITS: usize = 2048;

/// The algorithms a public JWK may verify: the asymmetric ones RFC 9068 resource servers,
/// RFC 7523 client assertions and RFC 9449 proofs use, never `HS*` or `none`.
pub const PUBLIC_KEY_ALGORITHMS: &[Algorithm] = &[
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// The members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A public key from a JWK, with the one algorithm it verifies.
pub struct PublicJwk {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// The parsed key and its algorithm.
    pub key: VerifyingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("algorithm", &self.key.algorithm)
            .finish()
    }
}

/// Why a JWK cannot be used. The messages never quote the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkError {
    /// Not a JWK of a key type jsonwebtoken knows.
    NotAJwk,
    /// It holds private key members (`d`, ...) or is a symmetric (`oct`) key.
    Private,
    /// `use` is not `sig`.
    NotForSigning,
    /// An RSA modulus under [`MIN_RSA_BITS`].
    RsaTooSmall,
    /// Its key type, curve or `alg` is not one of [`PUBLIC_KEY_ALGORITHMS`], or they do
    /// not agree.
    UnsupportedAlgorithm,
}

impl std::fmt::Display for JwkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwkError::NotAJwk => "is not a JWK (RFC 7517)",
            JwkError::Private => {
                "holds a private or symmetric key: give the public key only (no d, p, q, dp, dq, qi, oth or k)"
            }
            JwkError::NotForSigning => "is not a signing key (use is not sig)",
            JwkError::RsaTooSmall => "is an RSA key under 2048 bits",
            JwkError::UnsupportedAlgorithm => {
                "is not an Ed25519, P-256, P-384 or RSA key for EdDSA, ES256, ES384, RS256 or PS256"
            }
        })
    }
}

impl std::error::Error for JwkError {}

impl PublicJwk {
    /// Parses a public JWK. The key dictates the algorithm: its `alg` if present (which
    /// must fit its type), else the one its type implies: EdDSA for Ed25519, ES256 for
    /// P-256, ES384 for P-384, RS256 for RSA (so an RSA key verifies PS256 only when its
    /// `alg` says so).
    pub fn parse(value: &serde_json::Value) -> Result<PublicJwk, JwkError> {
        let members = value.as_object().ok_or(JwkError::NotAJwk)?;
        if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m))
            || members.get("kty").and_then(|k| k.as_str()) == Some("oct")
        {
            return Err(JwkError::Private);
        }
        let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| JwkError::NotAJwk)?;
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(JwkError::NotForSigning);
        }
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::OctetKeyPair(p), None | Some(KeyAlgorithm::EdDSA))
                if p.curve == EllipticCurve::Ed25519 =>
            {
                Algorithm::EdDSA
            }
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES384))
                if p.curve == EllipticCurve::P384 =>
            {
                Algorithm::ES384
            }
            (AlgorithmParameters::RSA(p), alg) => {
                if rsa_bits(&p.n) < MIN_RSA_BITS {
                    return Err(JwkError::RsaTooSmall);
                }
                match alg {
                    None | Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                    Some(KeyAlgorithm::PS256) => Algorithm::PS256,
                    _ => return Err(JwkError::UnsupportedAlgorithm),
                }
            }
            _ => return Err(JwkError::UnsupportedAlgorithm),
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| JwkError::NotAJwk)?;
        Ok(PublicJwk {
            kid: jwk.common.key_id.clone(),
            key: VerifyingKey::new(algorithm, key),
            jwk,
        })
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: what a DPoP-bound token's `cnf.jkt`
    /// holds (RFC 9449 §6.1).
    pub fn thumbprint(&self) -> Option<String> {
        self.jwk.thumbprint(ThumbprintHash::SHA256).ok()
    }

    /// The JWK as parsed.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }
}

/// The size in bits of an RSA modulus given as base64url, 0 if it does not decode.
pub(crate) fn rsa_bits(n: &str) -> usize {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')) else {
        return 0;
    };
    let significant: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ED: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn the_key_dictates_the_algorithm_and_private_or_unusable_keys_are_refused() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": ED, "kid": "a"});
        let parsed = PublicJwk::parse(&ed).unwrap();
        assert_eq!(
            (parsed.kid.as_deref(), parsed.key.algorithm),
            (Some("a"), Algorithm::EdDSA)
        );
        // RFC 7638 §3.1's example key has a known thumbprint; this one is stable too.
        assert_eq!(parsed.thumbprint().unwrap().len(), 43);
        let with = |member: &str, value: serde_json::Value| {
            let mut jwk = ed.clone();
            jwk[member] = value;
            PublicJwk::parse(&jwk).map(|_| ()).unwrap_err()
        };
        assert_eq!(with("use", "enc".into()), JwkError::NotForSigning);
        assert_eq!(with("alg", "HS256".into()), JwkError::UnsupportedAlgorithm);
        assert_eq!(with("alg", "ES256".into()), JwkError::UnsupportedAlgorithm);
        assert_eq!(with("d", ED.into()), JwkError::Private);
        assert_eq!(
            PublicJwk::parse(&json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap_err(),
            JwkError::Private
        );
        assert_eq!(
            PublicJwk::parse(&json!({"kty": "XYZ"})).unwrap_err(),
            JwkError::UnsupportedAlgorithm
        );
        assert_eq!(
            PublicJwk::parse(&json!("text")).unwrap_err(),
            JwkError::NotAJwk
        );
        // A 1024-bit modulus.
        let n = |bytes: usize| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                vec![0xc5u8; bytes],
            )
        };
        let small = json!({"kty": "RSA", "e": "AQAB", "n": n(128)});
        assert_eq!(PublicJwk::parse(&small).unwrap_err(), JwkError::RsaTooSmall);
        let rsa = json!({"kty": "RSA", "e": "AQAB", "n": n(256)});
        assert_eq!(
            PublicJwk::parse(&rsa).unwrap().key.algorithm,
            Algorithm::RS256
        );
        let mut pss = rsa.clone();
        pss["alg"] = "PS256".into();
        assert_eq!(
            PublicJwk::parse(&pss).unwrap().key.algorithm,
            Algorithm::PS256
        );
        pss["alg"] = "RS512".into();
        assert_eq!(
            PublicJwk::parse(&pss).unwrap_err(),
            JwkError::UnsupportedAlgorithm
        );
    }

    #[test]
    fn rsa_sizes_count_significant_bits() {
        let encode = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        };
        let mut n = vec![0u8; 257];
        n[1] = 0x80;
        assert_eq!(rsa_bits(&encode(&n)), 2048);
        n[1] = 0x40;
        assert_eq!(rsa_bits(&encode(&n)), 2047);
        assert_eq!(rsa_bits("!"), 0);
    }
}
