//! The scopes this API knows (RFC 6749 §3.3), in one place: configuration checks client
//! entries against them, the spec's oauth2 scheme lists them, and each write names the
//! one narrow scope that allows it besides `api:write`.

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

/// The scope a protected operation needs besides `api:write`. Implemented by one marker
/// type per kind of write, so the requirement is part of the operation's signature.
pub trait WriteScope: Send + Sync + 'static {
    const SCOPE: Scope;
    /// The `scope` attribute of the 403 challenge: every scope that would do
    /// (RFC 6750 §3), narrow one first.
    const CHALLENGE: &'static str;
}

pub struct CreatePlayers;
pub struct UpdatePlayers;
pub struct DeletePlayers;

impl WriteScope for CreatePlayers {
    const SCOPE: Scope = Scope::PlayersCreate;
    const CHALLENGE: &'static str = "players:create api:write";
}

impl WriteScope for UpdatePlayers {
    const SCOPE: Scope = Scope::PlayersUpdate;
    const CHALLENGE: &'static str = "players:update api:write";
}

impl WriteScope for DeletePlayers {
    const SCOPE: Scope = Scope::PlayersDelete;
    const CHALLENGE: &'static str = "players:delete api:write";
}

/// Whether a token's space-delimited `scope` claim allows a write needing `S`.
pub fn allows<S: WriteScope>(granted: &str) -> bool {
    granted
        .split(' ')
        .any(|s| s == Scope::ApiWrite.as_str() || s == S::SCOPE.as_str())
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
    fn a_write_is_allowed_by_api_write_or_its_narrow_scope_only() {
        assert!(allows::<CreatePlayers>("api:write"));
        assert!(allows::<CreatePlayers>("players:delete players:create"));
        assert!(!allows::<CreatePlayers>("players:delete players:update"));
        assert!(!allows::<DeletePlayers>(""));
        assert!(!allows::<DeletePlayers>("api:writer"));
    }

    #[test]
    fn challenges_name_both_scopes() {
        assert_eq!(
            CreatePlayers::CHALLENGE,
            format!(
                "{} {}",
                Scope::PlayersCreate.as_str(),
                Scope::ApiWrite.as_str()
            )
        );
        assert_eq!(
            UpdatePlayers::CHALLENGE,
            format!(
                "{} {}",
                Scope::PlayersUpdate.as_str(),
                Scope::ApiWrite.as_str()
            )
        );
        assert_eq!(
            DeletePlayers::CHALLENGE,
            format!(
                "{} {}",
                Scope::PlayersDelete.as_str(),
                Scope::ApiWrite.as_str()
            )
        );
    }
}
