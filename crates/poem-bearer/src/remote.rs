//! Trusted issuers: another authorization server (Keycloak, Auth0, a sibling service)
//! whose tokens are accepted, with its keys fetched from its JWKS.
//!
//! The keys are fetched when the [`Validator`](crate::Validator) is built, kept in
//! memory, and refreshed in the background (every 5 minutes, or as the JWKS response's
//! `Cache-Control: max-age` says, bounded to 60 s .. 24 h). A token naming a `kid` the
//! cache does not hold triggers a refresh, at most one per 10 s per issuer: the request
//! that triggers it waits for it, any other is refused at once, so tokens with made-up
//! `kid`s cannot make this server hammer the issuer. When the issuer is unreachable, the
//! last keys fetched keep verifying for up to 24 hours (at least an hour past their
//! refresh when `max-age` is that long). A JWKS fetched successfully replaces the cached
//! one whole: a key the issuer no longer publishes stops verifying at once, even when no
//! key is left.
//!
//! Fetches go only to `https` URLs (plain `http` only to a loopback address, for tests
//! and sidecars), follow no redirects, and stop after 5 s or 256 KiB.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use arc_swap::ArcSwapOption;
use jsonwebtoken::{Algorithm, Validation};
use poem::web::headers::{CacheControl, Header};
use serde::{Deserialize, Serialize};
use url::Url;

pub use crate::keys::MIN_RSA_BITS;
use crate::{
    Claims, Rejection, SettingsError,
    keys::{PublicJwk, VerifyingKey},
    validator,
};

/// How often keys are refreshed when the issuer says nothing (`Cache-Control: max-age`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// The bounds put on the issuer's `max-age`.
pub const REFRESH_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));
/// How soon a failed background fetch is tried again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// The least time between two refreshes triggered by unknown `kid`s.
pub const MIN_TRIGGERED_REFRESH: Duration = Duration::from_secs(10);
/// How long keys keep verifying once they were due for a refresh: an issuer unreachable
/// for this long has its tokens refused.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or JWKS read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A trusted issuer, as configured. Give `discovery_url` (RFC 8414 or OpenID discovery)
/// or `jwks_url`, not both.
///
/// Its tokens meet the RFC 9068 rules the local tokens meet: `typ` `at+jwt`, and the
/// claims `iss`, `sub`, `aud`, `exp`, `iat`, `jti` and `client_id`. With
/// `typ = "JWT"` (Keycloak and Auth0 send `typ: JWT`), the `typ` `JWT` is accepted too and
/// only `iss`, `sub`, `aud` and `exp` are required; the client id is taken from
/// `client_id`, else `azp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The issuer identifier: the exact `iss` of its tokens.
    pub issuer: String,
    /// Its discovery document, whose `issuer` must equal [`issuer`](Self::issuer)
    /// (RFC 8414 §3.3) and whose `jwks_uri` gives the keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// Its JWKS, when there is no discovery document to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The `aud` its tokens must carry to be accepted here.
    pub audience: String,
    /// `JWT` to accept plain JWTs as described above; absent for RFC 9068 tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    Discovery(Url),
    Jwks(Url),
}

/// A trusted issuer in use: its settings checked, its keys cached.
pub(crate) struct Remote {
    pub(crate) issuer: String,
    source: Source,
    plain_jwt: bool,
    validations: Vec<(Algorithm, Validation)>,
    cache: ArcSwapOption<Cached>,
    /// When the last refresh triggered by a request started.
    last_triggered: Mutex<Option<Instant>>,
    /// Held by the refresh under way: refreshes run one at a time, so an older key set
    /// never overwrites a newer one.
    refreshing: tokio::sync::Mutex<()>,
    client: reqwest::Client,
}

struct Cached {
    keys: Vec<(Option<String>, VerifyingKey)>,
    /// When these keys stop verifying (see [`usable_until`]).
    usable_until: Instant,
    /// When they were to be refreshed, after their fetch.
    refresh_after: Duration,
}

/// What a fetch brought: the usable keys and how long to keep them.
struct Fetched {
    keys: Vec<(Option<String>, VerifyingKey)>,
    skipped: usize,
    max_age: Option<Duration>,
}

impl TrustedIssuer {
    /// Checks the settings without fetching anything; errors name the field
    /// (`jwks_url`).
    pub fn check(&self) -> Result<(), SettingsError> {
        self.parse().map(|_| ())
    }

    /// The source of the keys, and whether plain JWTs are accepted.
    fn parse(&self) -> Result<(Source, bool), SettingsError> {
        if self.issuer.is_empty() {
            return Err(SettingsError::new("issuer", "is empty"));
        }
        if self.audience.is_empty() {
            return Err(SettingsError::new("audience", "is empty"));
        }
        let plain_jwt = match self.typ.as_deref() {
            None => false,
            Some(typ) if typ.eq_ignore_ascii_case("JWT") => true,
            Some(typ) if is_access_token_type(typ) => false,
            Some(_) => {
                return Err(SettingsError::new(
                    "typ",
                    "must be \"JWT\" (or left out for RFC 9068 at+jwt tokens)",
                ));
            }
        };
        let source = match (&self.discovery_url, &self.jwks_url) {
            (Some(url), None) => Source::Discovery(fetchable(url, "discovery_url")?),
            (None, Some(url)) => Source::Jwks(fetchable(url, "jwks_url")?),
            _ => {
                return Err(SettingsError::new(
                    "discovery_url",
                    "or jwks_url must be given, and not both",
                ));
            }
        };
        Ok((source, plain_jwt))
    }
}

/// `https`, or `http` to a loopback address; no user-info (it would be a credential in
/// a log line).
fn fetchable(text: &str, field: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(text).map_err(|_| SettingsError::new(field, "is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SettingsError::new(
            field,
            "must not carry a user name or password",
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(SettingsError::new(
            field,
            "must be an https URL (plain http only to a loopback address)",
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

pub(crate) fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(crate::TOKEN_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// The HTTP client of every fetch: rustls with the Mozilla roots, no redirects, no proxy.
pub(crate) fn http_client() -> Result<reqwest::Client, SettingsError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    let tls = tls.map_err(|e| SettingsError::new("", format!("TLS set-up failed: {e}")))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        // `HTTP_PROXY` and friends are not followed: a proxy could swap the keys.
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| SettingsError::new("", format!("HTTP client set-up failed: {e}")))
}

impl Remote {
    pub(crate) fn new(
        settings: &TrustedIssuer,
        client: reqwest::Client,
    ) -> Result<Remote, SettingsError> {
        let (source, plain_jwt) = settings.parse()?;
        let validations = [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::PS256,
        ]
        .into_iter()
        .map(|alg| {
            (
                alg,
                validator::validation(alg, &settings.issuer, &settings.audience),
            )
        })
        .collect();
        Ok(Remote {
            issuer: settings.issuer.clone(),
            source,
            plain_jwt,
            validations,
            cache: ArcSwapOption::empty(),
            last_triggered: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            client,
        })
    }

    /// Validates a token whose `iss` names this issuer.
    pub(crate) async fn validate(self: &Arc<Self>, token: &str) -> Result<Claims, Rejection> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| validator::rejection(e.kind()))?;
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            is_access_token_type(typ) || (self.plain_jwt && typ.eq_ignore_ascii_case("JWT"))
        });
        if !typ_ok {
            return Err(Rejection::NotAnAccessToken);
        }
        // An embedded or referenced key is never followed (RFC 8725 §3.10). `x5t` and
        // `x5t#S256` only name a certificate, as `kid` names a key: they are ignored.
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(Rejection::ForeignKey);
        }
        if header.crit.is_some() {
            return Err(Rejection::CriticalHeader);
        }
        let (cached, index) = self.key_for(header.kid.as_deref()).await?;
        let (_, key) = &cached.keys[index];
        let validation = self
            .validations
            .iter()
            .find(|(alg, _)| *alg == key.algorithm)
            .map(|(_, v)| v)
            .ok_or(Rejection::WrongAlgorithm)?;
        let data = jsonwebtoken::decode::<RemoteClaims>(token, &key.key, validation)
            .map_err(|e| validator::rejection(e.kind()))?;
        let claims = data.claims;
        if validator::issued_in_future(claims.iat) {
            return Err(Rejection::NotYetValid);
        }
        let client_id = if self.plain_jwt {
            claims.client_id.or(claims.azp)
        } else {
            claims.client_id
        };
        let (Some(client_id), true) = (
            client_id,
            self.plain_jwt || (claims.iat.is_some() && claims.jti.is_some()),
        ) else {
            return Err(Rejection::MissingClaim);
        };
        Ok(Claims {
            issuer: claims.iss,
            subject: claims.sub,
            client_id,
            scope: claims.scope.unwrap_or_default(),
            jti: claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
            local: false,
            bound_to: claims.cnf.map(|cnf| cnf.jkt),
            audience: claims.aud.map(|aud| aud.into_vec()).unwrap_or_default(),
            not_before: claims.nbf,
        })
    }

    /// The cached key `kid` names, refreshing once if it is not there and a refresh may
    /// be triggered now.
    async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
    ) -> Result<(Arc<Cached>, usize), Rejection> {
        match self.lookup(kid, Instant::now()) {
            Lookup::Found(cached, index) => return Ok((cached, index)),
            // Without a `kid`, a refresh cannot tell which key was meant either.
            Lookup::Missing if kid.is_none() => return Err(Rejection::UnknownIssuerKey),
            Lookup::Missing | Lookup::NoKeys => {}
        }
        if self.may_trigger(Instant::now()) {
            // Run apart from the request: a client that goes away does not cancel the
            // refresh it triggered (its 10 s slot is spent either way).
            let remote = self.clone();
            let _ = tokio::spawn(async move { remote.refresh().await }).await;
        }
        match self.lookup(kid, Instant::now()) {
            Lookup::Found(cached, index) => Ok((cached, index)),
            Lookup::Missing => Err(Rejection::UnknownIssuerKey),
            Lookup::NoKeys => Err(Rejection::IssuerUnavailable),
        }
    }

    fn lookup(&self, kid: Option<&str>, now: Instant) -> Lookup {
        let Some(cached) = self.cache.load_full() else {
            return Lookup::NoKeys;
        };
        if now > cached.usable_until {
            return Lookup::NoKeys;
        }
        let index = match kid {
            Some(kid) => cached
                .keys
                .iter()
                .position(|(k, _)| k.as_deref() == Some(kid)),
            None if cached.keys.len() == 1 => Some(0),
            None => None,
        };
        match index {
            Some(index) => Lookup::Found(cached, index),
            None => Lookup::Missing,
        }
    }

    /// Whether a request may trigger a refresh now; if so, the next one may not for
    /// [`MIN_TRIGGERED_REFRESH`].
    fn may_trigger(&self, now: Instant) -> bool {
        let Ok(mut last) = self.last_triggered.lock() else {
            return false;
        };
        if last.is_some_and(|at| now.saturating_duration_since(at) < MIN_TRIGGERED_REFRESH) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Fetches the keys and caches them; returns when to refresh next. A failure keeps
    /// the cached keys and is logged.
    pub(crate) async fn refresh(&self) -> Duration {
        let seen = self.cache.load_full();
        // One deadline for the whole refresh, waiting for another one included: with a
        // discovery document, two fetches. The keys are stored under the lock, so
        // refreshes end in the order they ran.
        let refreshed = tokio::time::timeout(FETCH_TIMEOUT, async {
            let _one_at_a_time = self.refreshing.lock().await;
            // Another refresh stored keys while this one waited: they are as fresh.
            let current = self.cache.load_full();
            if let Some(current) = &current
                && !seen.as_ref().is_some_and(|seen| Arc::ptr_eq(seen, current))
            {
                return Ok(current.refresh_after);
            }
            self.fetch().await.map(|fetched| self.store(fetched))
        })
        .await
        .unwrap_or_else(|_| Err("the fetch took longer than 5 s".to_owned()));
        refreshed.unwrap_or_else(|reason| {
            let held = self.cache.load().is_some();
            tracing::warn!(
                issuer = %self.issuer,
                %reason,
                keeping_cached_keys = held,
                "fetching a trusted issuer's keys failed; its tokens are refused until a fetch succeeds unless keys are cached"
            );
            RETRY_AFTER_FAILURE
        })
    }

    /// Caches freshly fetched keys; returns when to refresh them.
    fn store(&self, fetched: Fetched) -> Duration {
        let next = next_refresh(fetched.max_age);
        tracing::debug!(
            issuer = %self.issuer,
            keys = fetched.keys.len(),
            skipped = fetched.skipped,
            next_refresh_seconds = next.as_secs(),
            "trusted issuer's keys fetched"
        );
        if fetched.keys.is_empty() {
            tracing::warn!(issuer = %self.issuer, skipped = fetched.skipped, "the trusted issuer's JWKS holds no key this server can use");
        }
        self.cache.store(Some(Arc::new(Cached {
            keys: fetched.keys,
            usable_until: usable_until(Instant::now(), next),
            refresh_after: next,
        })));
        next
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery(url) => {
                let (body, _) = self.get(url).await?;
                let document: Discovery = serde_json::from_slice(&body)
                    .map_err(|_| "the discovery document is not JSON with issuer and jwks_uri")?;
                if document.issuer != self.issuer {
                    return Err(
                        "the discovery document names another issuer (RFC 8414 §3.3)".into(),
                    );
                }
                jwks_url_from(url, &document.jwks_uri)?
            }
        };
        let (body, headers) = self.get(&jwks_url).await?;
        let max_age =
            CacheControl::decode(&mut headers.get_all(reqwest::header::CACHE_CONTROL).iter())
                .ok()
                .and_then(|c| c.max_age());
        let set: RawJwkSet =
            serde_json::from_slice(&body).map_err(|_| "the JWKS is not JSON with keys")?;
        let total = set.keys.len();
        let keys: Vec<_> = set
            .keys
            .into_iter()
            .filter_map(|value| PublicJwk::parse(&value).ok().map(|k| (k.kid, k.key)))
            .collect();
        Ok(Fetched {
            skipped: total - keys.len(),
            keys,
            max_age,
        })
    }

    async fn get(&self, url: &Url) -> Result<(Vec<u8>, reqwest::header::HeaderMap), String> {
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {} failed: {}", shown(url), kind(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "GET {} answered {} (redirects are not followed)",
                shown(url),
                response.status().as_u16()
            ));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("GET {} is larger than 256 KiB", shown(url)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {} failed: {}", shown(url), kind(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {} is larger than 256 KiB", shown(url)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, response.headers().clone()))
    }
}

enum Lookup {
    Found(Arc<Cached>, usize),
    Missing,
    NoKeys,
}

/// The JWKS URL a discovery document at `discovery` names. A document fetched over https
/// may not send us to plain http (a local port, say): only a loopback discovery URL may
/// name a loopback JWKS.
fn jwks_url_from(discovery: &Url, jwks_uri: &str) -> Result<Url, String> {
    let url =
        fetchable(jwks_uri, "jwks_uri").map_err(|e| format!("the discovery document's {e}"))?;
    if discovery.scheme() == "https" && url.scheme() != "https" {
        return Err("the discovery document's jwks_uri is not https".into());
    }
    Ok(url)
}

/// When to refresh after a successful fetch: as the JWKS's `max-age` says, bounded.
fn next_refresh(max_age: Option<Duration>) -> Duration {
    max_age.map_or(DEFAULT_REFRESH, |age| {
        age.clamp(REFRESH_BOUNDS.0, REFRESH_BOUNDS.1)
    })
}

/// When keys fetched at `fetched_at`, to be refreshed after `refresh`, stop verifying:
/// [`MAX_KEY_AGE`] after their fetch, or an hour of failed retries after their refresh
/// was due when `max-age` put it later than that.
fn usable_until(fetched_at: Instant, refresh: Duration) -> Instant {
    fetched_at + MAX_KEY_AGE.max(refresh + Duration::from_secs(3600))
}

/// A URL as logged: scheme, host, port and path, never a query.
fn shown(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path()
}

fn kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out after 5 s"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the connection or response was not usable"
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RemoteClaims {
    iss: String,
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    cnf: Option<crate::token::Confirmation>,
    #[serde(default)]
    aud: Option<crate::validator::Audience>,
    #[serde(default)]
    nbf: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_for_24_hours_after_their_fetch_and_at_least_an_hour_past_due() {
        let fetched = Instant::now();
        let day = Duration::from_secs(86400);
        let hour = Duration::from_secs(3600);
        // Refreshed every 5 minutes: 24 h after the last good fetch.
        assert_eq!(usable_until(fetched, DEFAULT_REFRESH), fetched + day);
        // With the longest max-age, an issuer down at refresh time still gets an hour
        // of retries rather than its tokens refused at once.
        assert_eq!(usable_until(fetched, day), fetched + day + hour);
    }

    #[test]
    fn an_https_discovery_document_names_only_an_https_jwks() {
        let https = Url::parse("https://id.example.com/.well-known/openid-configuration").unwrap();
        let local = Url::parse("http://127.0.0.1:8080/.well-known/openid-configuration").unwrap();
        assert!(jwks_url_from(&https, "https://id.example.com/jwks").is_ok());
        assert!(jwks_url_from(&https, "http://127.0.0.1:6379/jwks").is_err());
        assert!(jwks_url_from(&https, "http://localhost/jwks").is_err());
        assert!(jwks_url_from(&local, "http://127.0.0.1:8080/jwks").is_ok());
        assert!(jwks_url_from(&local, "http://id.example.com/jwks").is_err());
    }

    #[test]
    fn max_age_sets_the_refresh_within_bounds() {
        let secs = Duration::from_secs;
        assert_eq!(next_refresh(None), secs(300));
        assert_eq!(next_refresh(Some(secs(0))), secs(60));
        assert_eq!(next_refresh(Some(secs(900))), secs(900));
        assert_eq!(next_refresh(Some(secs(7 * 86400))), secs(86400));
    }

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for good in [
            "https://id.example.com/.well-known/openid-configuration",
            "http://127.0.0.1:8080/jwks",
            "http://[::1]/jwks",
            "http://localhost:9/jwks",
        ] {
            assert!(fetchable(good, "jwks_url").is_ok(), "{good}");
        }
        for bad in [
            "http://id.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://127.0.0.1/jwks",
            "https://user:pw@id.example.com/jwks",
            "not a url",
        ] {
            let err = fetchable(bad, "jwks_url").unwrap_err();
            assert_eq!(err.field(), "jwks_url");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    #[test]
    fn settings_need_exactly_one_source_and_a_known_typ() {
        let base = TrustedIssuer {
            issuer: "https://id.example.com".into(),
            jwks_url: Some("https://id.example.com/jwks".into()),
            audience: "api".into(),
            ..TrustedIssuer::default()
        };
        assert!(base.check().is_ok());
        let both = TrustedIssuer {
            discovery_url: Some("https://id.example.com/.well-known/openid-configuration".into()),
            ..base.clone()
        };
        assert_eq!(both.parse().unwrap_err().field(), "discovery_url");
        let typ = TrustedIssuer {
            typ: Some("JWS".into()),
            ..base.clone()
        };
        assert_eq!(typ.parse().unwrap_err().field(), "typ");
        let jwt = TrustedIssuer {
            typ: Some("JWT".into()),
            ..base
        };
        assert!(jwt.parse().unwrap().1);
    }
}
