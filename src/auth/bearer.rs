//! Bearer protection (RFC 6750), by `poem_bearer`: this API's realm and token URL, and
//! its validator, built from the configuration.

use std::sync::Arc;

pub use poem_bearer::{
    BEARER_SCHEME, Bearer as BearerAuth, OAUTH2_SCHEME, TrustedIssuer, Validator,
};

use poem_bearer::{dpop::Nonces, replay::ReplayCache};
use poem_client_credentials::RevocationStore;

use super::ClientDirectory;
use crate::config::JwtConfig;

/// The realm named in every challenge.
pub const REALM: &str = "players";
/// Where clients get tokens.
pub const TOKEN_URL: &str = "/auth/token";

/// The validator of writes: this API's own tokens (a disabled or removed client's, or a
/// revoked one, refused at once), and those of the trusted issuers, whose keys it fetches now; bound
/// tokens with DPoP proofs for `public_url`, their `jti`s kept in `proofs`, carrying
/// one of `nonces` when given.
pub async fn validator(
    jwt: &JwtConfig,
    trusted: &[TrustedIssuer],
    clients: Arc<ClientDirectory>,
    public_url: &str,
    proofs: Arc<dyn ReplayCache>,
    nonces: Option<Arc<Nonces>>,
    revocations: Arc<dyn RevocationStore>,
) -> Result<Arc<Validator>, poem_bearer::SettingsError> {
    let builder = trusted
        .iter()
        .fold(
            Validator::builder(REALM).local(&jwt.issuer, &jwt.audience, jwt.keys.clone()),
            |builder, issuer| builder.trust(issuer.clone()),
        )
        .client_check(move |client_id| clients.is_enabled(client_id))
        .revocation_check(move |jti| revocations.is_revoked(jti))
        .dpop(public_url, proofs);
    match nonces {
        Some(nonces) => builder.dpop_nonces(nonces),
        None => builder,
    }
    .build()
    .await
}

#[cfg(test)]
mod tests {
    /// The validator's shortcut for its own tokens compares their first segment with
    /// the header the issuer writes: they must be the same text.
    #[test]
    fn the_own_header_is_the_header_of_issued_tokens() {
        for algorithm in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::Algorithm::ES256,
        ] {
            let generated = crate::auth::keys::generate(algorithm).unwrap();
            let key = match generated.public_pem {
                None => format!("key = \"{}\"", generated.secret_or_private_pem),
                Some(_) => format!(
                    "algorithm = \"{algorithm:?}\"\nprivate_key = \"\"\"\n{}\"\"\"",
                    generated.secret_or_private_pem
                ),
            };
            let toml = format!(
                "[default.jwt]\n{key}\nissuer = \"i\"\naudience = \"a\"\n\
                 [[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n"
            );
            let config = crate::Config::from_toml_str(&toml, "debug").unwrap();
            let issued = config
                .jwt
                .token_issuer()
                .issue("c", "api:write".to_owned())
                .unwrap();
            assert_eq!(
                crate::auth::token::own_header_segment(&config.jwt.keys).as_deref(),
                issued.access_token.split('.').next(),
                "{algorithm:?}"
            );
        }
    }
}
