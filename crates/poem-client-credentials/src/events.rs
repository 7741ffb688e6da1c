//! What the token endpoint reports: tokens issued, clients refused, sources throttled.
//! The app implements [`Events`] to count them in its metrics; [`TracingAudit`], the
//! default, writes the audit log.

use std::net::IpAddr;

use crate::revocation::RevocationOutcome;

/// A token was issued.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Issued<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The granted scopes, space-delimited.
    pub scope: &'a str,
    /// The token's `jti`.
    pub jti: &'a str,
    /// Which of the client's secrets it used: 1 or 2 (during a rotation); 0 for an
    /// assertion.
    pub secret: usize,
    /// How it authenticated: `client_secret_basic`, `client_secret_post` or
    /// `private_key_jwt`.
    pub method: &'static str,
    /// The request's source address.
    pub source: Option<IpAddr>,
}

/// A client authentication failed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Refused<'a> {
    /// The client id the request gave (`-` for none), at most [`MAX_CLIENT_ID_CHARS`]
    /// characters and `…` when cut: a made-up id may be as long as the body.
    pub client_id: &'a str,
    /// Why: a [`Refusal`](crate::clients::Refusal) name (`unknown_client`,
    /// `wrong_secret`, `assertion_expired`, ...), `malformed_basic` or `no_credentials`.
    /// A fixed set: safe as a metric label.
    pub reason: &'static str,
    /// The request's source address.
    pub source: Option<IpAddr>,
}

impl<'a> Issued<'a> {
    /// An event (tests of [`Events`] implementations build them).
    pub fn new(client_id: &'a str, scope: &'a str, jti: &'a str, secret: usize) -> Self {
        Issued {
            client_id,
            scope,
            jti,
            secret,
            method: "client_secret_basic",
            source: None,
        }
    }
}

impl<'a> Refused<'a> {
    /// An event (tests of [`Events`] implementations build them).
    pub fn new(client_id: &'a str, reason: &'static str) -> Self {
        Refused {
            client_id,
            reason,
            source: None,
        }
    }
}

/// A revocation request was answered (the caller authenticated).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Revoked<'a> {
    /// How it was answered: [`RevocationOutcome::as_str`] is a fixed set, safe as a
    /// metric label.
    pub outcome: RevocationOutcome,
    /// The client that asked.
    pub client_id: &'a str,
    /// The client the token was issued to, when the token is active.
    pub token_client_id: Option<&'a str>,
    /// The token's `jti`, when the token is active.
    pub jti: Option<&'a str>,
    /// The request's source address.
    pub source: Option<IpAddr>,
}

/// An introspection request was answered (the caller authenticated).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Introspected<'a> {
    /// Whether the answer was `"active": true`.
    pub active: bool,
    /// The client that asked.
    pub client_id: &'a str,
    /// The client the token was issued to, when the token is active.
    pub token_client_id: Option<&'a str>,
    /// The token's `jti`, when the token is active.
    pub jti: Option<&'a str>,
    /// The request's source address.
    pub source: Option<IpAddr>,
}

impl<'a> Revoked<'a> {
    /// An event (tests of [`Events`] implementations build them).
    pub fn new(outcome: RevocationOutcome, client_id: &'a str) -> Self {
        Revoked {
            outcome,
            client_id,
            token_client_id: None,
            jti: None,
            source: None,
        }
    }
}

impl<'a> Introspected<'a> {
    /// An event (tests of [`Events`] implementations build them).
    pub fn new(active: bool, client_id: &'a str) -> Self {
        Introspected {
            active,
            client_id,
            token_client_id: None,
            jti: None,
            source: None,
        }
    }
}

/// The most characters of a client-supplied id an event holds.
pub const MAX_CLIENT_ID_CHARS: usize = 128;

/// Receives the token endpoint's events. Every method has an empty default.
pub trait Events: Send + Sync + 'static {
    /// A token was issued.
    fn token_issued(&self, _event: &Issued<'_>) {}
    /// A client authentication failed (the answer is 401 `invalid_client`).
    fn client_refused(&self, _event: &Refused<'_>) {}
    /// A source was refused for failing too often (429).
    fn throttled(&self, _source: Option<IpAddr>) {}
    /// A revocation request was answered.
    fn token_revoked(&self, _event: &Revoked<'_>) {}
    /// An introspection request was answered.
    fn token_introspected(&self, _event: &Introspected<'_>) {}
}

/// The `tracing` target of audit events.
pub const AUDIT: &str = "audit";

/// The audit log: one line per token issued and per failed client authentication, on the
/// `tracing` target [`AUDIT`], with the client id, scopes, `jti`, outcome, reason and
/// source address; never a secret or a token. Values are logged quoted and escaped
/// (`Debug`), so a client id holding a newline cannot forge a log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

impl Events for TracingAudit {
    fn token_issued(&self, event: &Issued<'_>) {
        tracing::info!(
            target: AUDIT,
            event = "token_issued",
            outcome = "issued",
            client_id = event.client_id,
            scope = event.scope,
            jti = event.jti,
            secret = event.secret,
            method = event.method,
            source = shown(event.source).as_str(),
        );
    }

    fn client_refused(&self, event: &Refused<'_>) {
        tracing::warn!(
            target: AUDIT,
            event = "client_authentication_failed",
            outcome = "refused",
            reason = event.reason,
            client_id = event.client_id,
            source = shown(event.source).as_str(),
        );
    }

    fn token_revoked(&self, event: &Revoked<'_>) {
        tracing::info!(
            target: AUDIT,
            event = "token_revoked",
            outcome = event.outcome.as_str(),
            reason = event.outcome.reason(),
            client_id = event.client_id,
            token_client_id = event.token_client_id.unwrap_or_default(),
            jti = event.jti.unwrap_or_default(),
            source = shown(event.source).as_str(),
        );
    }

    fn token_introspected(&self, event: &Introspected<'_>) {
        tracing::info!(
            target: AUDIT,
            event = "token_introspected",
            active = event.active,
            client_id = event.client_id,
            token_client_id = event.token_client_id.unwrap_or_default(),
            jti = event.jti.unwrap_or_default(),
            source = shown(event.source).as_str(),
        );
    }
}

fn shown(source: Option<IpAddr>) -> String {
    source.map(|a| a.to_string()).unwrap_or_default()
}

/// A client-supplied id as an event (or any log line) holds it: at most
/// [`MAX_CLIENT_ID_CHARS`] characters, and `…` when cut.
pub fn bounded_id(client_id: &str) -> std::borrow::Cow<'_, str> {
    match client_id.char_indices().nth(MAX_CLIENT_ID_CHARS) {
        Some((cut, _)) => format!("{}…", &client_id[..cut]).into(),
        None => client_id.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_hold_at_most_128_characters_of_a_client_id() {
        assert_eq!(bounded_id("svc"), "svc");
        let long = "é".repeat(5000);
        let shown = bounded_id(&long);
        assert_eq!(shown.chars().count(), MAX_CLIENT_ID_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
