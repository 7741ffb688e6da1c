//! Compact JWS that clients sign (DPoP proofs, client assertions), read with their
//! algorithm names as clients write them today: besides `EdDSA`, the fully-specified
//! `Ed25519` of RFC 9864, which openid-client and oauth4webapi put in the header of what
//! an Ed25519 key signs. jsonwebtoken 11 does not know that name and refuses the whole
//! header, so the header is read here and the signature checked with jsonwebtoken's own
//! primitive, for the one algorithm the key allows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeOwned;

use crate::keys::PUBLIC_KEY_ALGORITHMS;

/// A compact JWS, its header decoded, its signature not yet checked.
pub struct Jws<'a> {
    /// The header's members.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// The header's `alg`: one of [`PUBLIC_KEY_ALGORITHMS`] (`Ed25519` read as EdDSA).
    pub alg: Algorithm,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

/// The algorithm an asymmetric `alg` name means, or `None` (HS*, `none`, unknown).
pub fn algorithm_named(name: &str) -> Option<Algorithm> {
    let algorithm = match name {
        "EdDSA" | "Ed25519" => Algorithm::EdDSA,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        _ => return None,
    };
    PUBLIC_KEY_ALGORITHMS
        .contains(&algorithm)
        .then_some(algorithm)
}

/// Why a JWS could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsError {
    /// Not three base64url parts with a JSON object header.
    Malformed,
    /// The `alg` is not an asymmetric algorithm of [`PUBLIC_KEY_ALGORITHMS`].
    Algorithm,
}

impl<'a> Jws<'a> {
    /// Splits and decodes `token`'s header.
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let decoded = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwsError::Malformed)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&decoded).map_err(|_| JwsError::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(|a| a.as_str())
            .and_then(algorithm_named)
            .ok_or(JwsError::Algorithm)?;
        Ok(Jws {
            header,
            alg,
            signing_input: &token[..header_len(token, payload)],
            payload,
            signature,
        })
    }

    /// A string member of the header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(|v| v.as_str())
    }

    /// The claims, if the signature verifies with `key` under the header's `alg` (the
    /// caller has checked that the key is for that algorithm).
    pub fn verify<T: DeserializeOwned>(&self, key: &DecodingKey) -> Option<T> {
        let valid = jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key,
            self.alg,
        )
        .ok()?;
        if !valid {
            return None;
        }
        let payload = URL_SAFE_NO_PAD.decode(self.payload).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

/// The length of `header.payload`, the signing input.
fn header_len(token: &str, payload: &str) -> usize {
    token.find('.').map_or(0, |dot| dot + 1 + payload.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, jwk::Jwk};

    #[test]
    fn ed25519_is_read_as_eddsa_and_symmetric_or_unknown_algorithms_are_refused() {
        use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let key = EncodingKey::from_ed_der(pkcs8.as_ref());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        let sign = |alg: &str| {
            let header = URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"{alg}\"}}"));
            let payload = URL_SAFE_NO_PAD.encode("{\"a\":1}");
            let input = format!("{header}.{payload}");
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::EdDSA).unwrap();
            format!("{input}.{signature}")
        };
        for alg in ["EdDSA", "Ed25519"] {
            let token = sign(alg);
            let jws = Jws::parse(&token).unwrap();
            assert_eq!(jws.alg, Algorithm::EdDSA);
            let claims: serde_json::Value = jws.verify(&decoding).unwrap();
            assert_eq!(claims["a"], 1);
        }
        for alg in ["HS256", "none", "Ed448", "RS512"] {
            assert_eq!(
                Jws::parse(&sign(alg)).err(),
                Some(JwsError::Algorithm),
                "{alg}"
            );
        }
        let token = sign("EdDSA");
        let tampered = token.replacen(".eyJ", ".eyK", 1);
        assert!(
            Jws::parse(&tampered)
                .unwrap()
                .verify::<serde_json::Value>(&decoding)
                .is_none()
        );
        for malformed in ["a.b", "a.b.c.d", "!.b.c", &format!("{}.x", token)] {
            assert_eq!(
                Jws::parse(malformed).err(),
                Some(JwsError::Malformed),
                "{malformed}"
            );
        }
    }
}
