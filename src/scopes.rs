//! The scopes this API knows (RFC 6749 §3.3), in one place: configuration checks client
//! entries against them, the spec's oauth2 scheme lists them, and each write is a
//! [`Requirement`] naming the one narrow scope that allows it besides `api:write`.

use poem_bearer::{Requirement, Schemes};
use poem_openapi::OAuthScopes;

/// A scope a client may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, OAuthScopes)]
pub enum Scope {
    /// Every write: create, update and delete players
    #[oai(rename = "api:write")]
    ApiWrite,
    /// Create players
    #[oai(rename = "players:create")]
    PlayersCreate,
    /// Replace players
    #[oai(rename = "players:update")]
    PlayersUpdate,
    /// Delete players
    #[oai(rename = "players:delete")]
    PlayersDelete,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ApiWrite,
        Scope::PlayersCreate,
        Scope::PlayersUpdate,
        Scope::PlayersDelete,
    ];

    pub fn as_str(self) -> &'static str {
        OAuthScopes::name(&self)
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How this API documents its protection: its scopes, and its own token endpoint as the
/// oauth2 scheme's (Swagger UI's Authorize dialog).
pub struct PlayersSchemes;

impl Schemes for PlayersSchemes {
    type Scope = Scope;
    const TOKEN_URL: Option<&'static str> = Some(poem_client_credentials::TOKEN_PATH);
    const BEARER_DESCRIPTION: &'static str =
        "An access token from `POST /auth/token`, sent as `Authorization: Bearer <token>`.";
    const DPOP_DESCRIPTION: Option<&'static str> = Some(
        "A DPoP-bound access token (RFC 9449): one from `POST /auth/token` requested with a \
         `DPoP` proof header (`token_type` `DPoP`), sent as `Authorization: DPoP <token>` \
         together with a new `DPoP` header on every request: a proof JWT (`typ` `dpop+jwt`, \
         the public `jwk` in its header) with `htm` the method, `htu` the request URL \
         without query, `iat`, a unique `jti`, and `ath` the token's SHA-256 (base64url), \
         signed with EdDSA, ES256, ES384, RS256 or PS256. See the README for a client \
         script.",
    );
}

/// Creating players: `players:create` or `api:write`.
pub struct CreatePlayers;
/// Replacing players: `players:update` or `api:write`.
pub struct UpdatePlayers;
/// Deleting players: `players:delete` or `api:write`.
pub struct DeletePlayers;

impl Requirement for CreatePlayers {
    type Schemes = PlayersSchemes;
    const ANY_OF: &'static [Scope] = &[Scope::PlayersCreate, Scope::ApiWrite];
}

impl Requirement for UpdatePlayers {
    type Schemes = PlayersSchemes;
    const ANY_OF: &'static [Scope] = &[Scope::PlayersUpdate, Scope::ApiWrite];
}

impl Requirement for DeletePlayers {
    type Schemes = PlayersSchemes;
    const ANY_OF: &'static [Scope] = &[Scope::PlayersDelete, Scope::ApiWrite];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn each_write_takes_its_narrow_scope_or_api_write() {
        assert_eq!(
            CreatePlayers::scope_names(),
            ["players:create", "api:write"]
        );
        assert_eq!(
            UpdatePlayers::scope_names(),
            ["players:update", "api:write"]
        );
        assert_eq!(
            DeletePlayers::scope_names(),
            ["players:delete", "api:write"]
        );
    }
}
