//! The validator: which tokens this API accepts, and what they say.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;

use crate::{
    Challenges, Rejection, Scheme, SettingsError,
    keys::KeySet,
    remote::{Remote, TrustedIssuer, is_access_token_type},
    replay::ReplayCache,
    token::own_header_segment,
};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// What an accepted token says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`: this API's own issuer, or the trusted issuer that signed it.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// The client the token was issued to (`client_id`, or `azp` for a plain-JWT issuer).
    pub client_id: String,
    /// `scope`, space-delimited; empty when the token has none.
    pub scope: String,
    /// `jti`, which every RFC 9068 token has.
    pub jti: Option<String>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: Option<u64>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// Whether it was verified with the local keys (not a trusted issuer's).
    pub local: bool,
    /// `cnf.jkt`: the thumbprint of the DPoP key the token is bound to, if it is bound.
    pub bound_to: Option<String>,
    /// `aud`, one value or several.
    pub audience: Vec<String>,
    /// `nbf`, seconds since the Unix epoch, when the token has one.
    pub not_before: Option<u64>,
}

impl Claims {
    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// A check the app makes of a client id on its own tokens: `false` refuses the token
/// with [`Rejection::ClientDisabled`] (a disabled or removed client's tokens stop working
/// at once, not when they expire).
pub type ClientCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A check the app makes of a `jti` of its own tokens after every other check: `true`
/// (revoked) refuses the token with [`Rejection::Revoked`]. It runs on every protected
/// request, so it must answer from memory: no I/O.
pub type RevocationCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Called for every request a guard refuses, with why: the app's metrics or audit log.
/// A [`Refusal`](crate::Refusal) is one of a fixed set, safe as a metric label.
pub type RefusalHook = Arc<dyn Fn(crate::Refusal) + Send + Sync>;

/// Verifies access tokens: the API's own (local keys), and those of trusted issuers.
///
/// Built once, with [`Validator::builder`], and shared: attach it to the routes with
/// `.data(validator)` and every [`Bearer`](crate::Bearer) guard uses it.
pub struct Validator {
    local: Option<Local>,
    local_issuer: Option<String>,
    trusted: Vec<Arc<Remote>>,
    challenges: Challenges,
    dpop: Option<DpopPolicy>,
    client_check: Option<ClientCheck>,
    revocation_check: Option<RevocationCheck>,
    on_refusal: Option<RefusalHook>,
}

struct Local {
    keys: Arc<KeySet>,
    validations: Vec<(Algorithm, Validation)>,
    /// The same rules without `aud`: for [`Validator::inspect`].
    any_audience: Vec<(Algorithm, Validation)>,
    /// The encoded header of the tokens the current key signs: a refused token that
    /// starts with it names that `kid`, which is then known without decoding anything.
    own_header: Option<String>,
}

/// Where DPoP proofs must point, and where their `jti`s are kept.
pub(crate) struct DpopPolicy {
    /// The public URL, without a trailing slash: a proof's `htu` is it and the path.
    pub(crate) public_url: String,
    pub(crate) replay: Arc<dyn ReplayCache>,
    pub(crate) nonces: Option<Arc<crate::dpop::Nonces>>,
}

/// How a [`Validator`] is put together.
pub struct ValidatorBuilder {
    dpop: Option<(String, Arc<dyn ReplayCache>)>,
    nonces: Option<Arc<crate::dpop::Nonces>>,
    realm: String,
    local: Option<(String, String, Arc<KeySet>)>,
    trusted: Vec<TrustedIssuer>,
    client_check: Option<ClientCheck>,
    revocation_check: Option<RevocationCheck>,
    on_refusal: Option<RefusalHook>,
}

impl Validator {
    /// Starts a validator whose challenges name `realm` (RFC 6750 §3).
    pub fn builder(realm: impl Into<String>) -> ValidatorBuilder {
        ValidatorBuilder {
            dpop: None,
            nonces: None,
            realm: realm.into(),
            local: None,
            trusted: Vec::new(),
            client_check: None,
            revocation_check: None,
            on_refusal: None,
        }
    }

    /// The error a guard answers `refusal` with, after telling the refusal hook.
    pub fn refuse(&self, refusal: crate::Refusal) -> crate::BearerError {
        self.refuse_for(refusal, Scheme::Bearer)
    }

    /// The error a guard answers `refusal` of a request that used `scheme` with, after
    /// telling the refusal hook.
    pub fn refuse_for(&self, refusal: crate::Refusal, scheme: Scheme) -> crate::BearerError {
        if let Some(hook) = &self.on_refusal {
            hook(refusal);
        }
        self.challenges.error_for(refusal, scheme)
    }

    /// Whether DPoP-bound tokens are accepted ([`ValidatorBuilder::dpop`]).
    pub fn accepts_dpop(&self) -> bool {
        self.dpop.is_some()
    }

    pub(crate) fn dpop_policy(&self) -> Option<&DpopPolicy> {
        self.dpop.as_ref()
    }

    /// The challenges of this validator's realm.
    pub fn challenges(&self) -> &Challenges {
        &self.challenges
    }

    /// The token's claims if it is valid here; otherwise why not.
    pub async fn validate(&self, token: &str) -> Result<Claims, Rejection> {
        if let Some(remote) = self.trusted_issuer_of(token) {
            return remote.validate(token).await;
        }
        match &self.local {
            Some(local) => self.validate_local(local, &local.validations, token),
            None => Err(Rejection::WrongIssuer),
        }
    }

    /// The claims of one of this API's own tokens if it is active: every check
    /// [`Validator::validate`] makes (signature under the current or a previous key,
    /// issuer, expiry with the leeway, `typ`, the client and revocation checks) except
    /// the audience. What token introspection (RFC 7662) and revocation (RFC 7009) need:
    /// a trusted issuer's token is never active here ([`Rejection::WrongIssuer`]).
    pub fn inspect(&self, token: &str) -> Result<Claims, Rejection> {
        match &self.local {
            Some(local) => self.validate_local(local, &local.any_audience, token),
            None => Err(Rejection::WrongIssuer),
        }
    }

    /// The trusted issuer a token's `iss` names, if any. The API's own tokens, which
    /// start with its own header, are not looked into.
    fn trusted_issuer_of(&self, token: &str) -> Option<&Arc<Remote>> {
        if self.trusted.is_empty() {
            return None;
        }
        let mut parts = token.split('.');
        let header = parts.next()?;
        if let Some(local) = &self.local
            && local.own_header.as_deref() == Some(header)
        {
            return None;
        }
        let payload = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        #[derive(Deserialize)]
        struct Issuer {
            iss: String,
        }
        let issuer = serde_json::from_slice::<Issuer>(&payload).ok()?.iss;
        self.trusted.iter().find(|remote| remote.issuer == issuer)
    }

    fn validate_local(
        &self,
        local: &Local,
        validations: &[(Algorithm, Validation)],
        token: &str,
    ) -> Result<Claims, Rejection> {
        // The `kid` only selects among the local keys; the key then dictates the
        // algorithm. With one key (the usual case) the token is verified against it
        // directly and its `kid` compared afterwards, so the header is parsed once.
        let (expected_kid, key) = match local.keys.single() {
            Some((kid, key)) => (Some(kid), key),
            None => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| rejection(e.kind()))?;
                let key = header
                    .kid
                    .as_deref()
                    .and_then(|kid| local.keys.verifying(kid))
                    .ok_or(Rejection::UnknownKey)?;
                (None, key)
            }
        };
        let validation = validations
            .iter()
            .find(|(alg, _)| *alg == key.algorithm)
            .map(|(_, v)| v)
            .ok_or(Rejection::WrongAlgorithm)?;
        // A forged token is refused on its signature alone, before any of it is parsed.
        let checked = key.check_signature(token).and_then(|()| {
            jsonwebtoken::decode::<LocalClaims>(token, &key.key, validation)
                .map_err(|e| rejection(e.kind()))
        });
        let data = match checked {
            Ok(data) => data,
            // With one key, the `kid` was not looked at first: a token from another key
            // (an old one, after a switch of algorithm) is refused for its `kid`, which is
            // the real reason, rather than for a signature or algorithm it never had.
            Err(reason) => {
                let ours = |segment: &str| local.own_header.as_deref() == Some(segment);
                let foreign_kid = expected_kid.is_some_and(|expected| {
                    // A forged token usually keeps our header: one comparison, no decoding.
                    !token.split('.').next().is_some_and(ours)
                        && jsonwebtoken::decode_header(token)
                            .is_ok_and(|h| h.kid.as_deref() != Some(expected))
                });
                return Err(if foreign_kid {
                    Rejection::UnknownKey
                } else {
                    reason
                });
            }
        };
        if let Some(expected) = expected_kid
            && data.header.kid.as_deref() != Some(expected)
        {
            return Err(Rejection::UnknownKey);
        }
        // jsonwebtoken checks `exp` and `nbf`, not `iat`: a token issued in the future
        // (beyond the skew) is as suspect as one not valid yet.
        if issued_in_future(Some(data.claims.iat)) {
            return Err(Rejection::NotYetValid);
        }
        // jsonwebtoken checks neither `typ` nor `crit` (RFC 8725 §3.11, RFC 7515 §4.1.11).
        if !data.header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(Rejection::NotAnAccessToken);
        }
        // An embedded or referenced key is never one of ours and is never followed
        // (RFC 8725 §3.10): no fetch, no file read, just a refusal.
        let h = &data.header;
        if h.jku.is_some()
            || h.jwk.is_some()
            || h.x5u.is_some()
            || h.x5c.is_some()
            || h.x5t.is_some()
            || h.x5t_s256.is_some()
        {
            return Err(Rejection::ForeignKey);
        }
        if let Some(check) = &self.client_check
            && !check(&data.claims.client_id)
        {
            return Err(Rejection::ClientDisabled);
        }
        if data.header.crit.is_some() {
            return Err(Rejection::CriticalHeader);
        }
        // Last: a token refused for any other reason keeps that reason.
        if let Some(revoked) = &self.revocation_check
            && revoked(&data.claims.jti)
        {
            return Err(Rejection::Revoked);
        }
        let c = data.claims;
        Ok(Claims {
            issuer: c.iss,
            subject: c.sub,
            client_id: c.client_id,
            scope: c.scope,
            jti: Some(c.jti),
            issued_at: Some(c.iat),
            expires_at: c.exp,
            local: true,
            bound_to: c.cnf.map(|cnf| cnf.jkt),
            audience: c.aud.into_vec(),
            not_before: c.nbf,
        })
    }
}

impl ValidatorBuilder {
    /// Accepts tokens signed by `keys` (the current key and the previous ones) with
    /// `iss` = `issuer` and `aud` = `audience`.
    pub fn local(
        mut self,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: Arc<KeySet>,
    ) -> Self {
        self.local = Some((issuer.into(), audience.into(), keys));
        self
    }

    /// Accepts tokens of a trusted issuer too.
    pub fn trust(mut self, issuer: TrustedIssuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// Refuses the local tokens of clients `check` says no to.
    pub fn client_check(mut self, check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.client_check = Some(Arc::new(check));
        self
    }

    /// Refuses the local tokens whose `jti` `check` says is revoked (see
    /// [`RevocationCheck`]). Trusted issuers' tokens are never looked up: their `jti`s are
    /// not this API's to revoke.
    pub fn revocation_check(
        mut self,
        check: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.revocation_check = Some(Arc::new(check));
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) too, sent as `Authorization: DPoP <token>`
    /// with a proof whose `htu` is `public_url` and the request's path (never a URL
    /// derived from `Host` or `X-Forwarded-*`), each proof's `jti` recorded in `replay`
    /// for its window. Every 401 then offers both schemes. Without it, `DPoP` is another
    /// scheme (401, no error) and a bound token is refused.
    pub fn dpop(mut self, public_url: impl Into<String>, replay: Arc<dyn ReplayCache>) -> Self {
        self.dpop = Some((public_url.into(), replay));
        self
    }

    /// Requires DPoP proofs to carry a server nonce (RFC 9449 §9): a proof without the
    /// current one is answered 401 `use_dpop_nonce` with a `DPoP-Nonce` header. Give the
    /// token endpoint the same [`Nonces`](crate::dpop::Nonces).
    pub fn dpop_nonces(mut self, nonces: Arc<crate::dpop::Nonces>) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Calls `hook` for every refused request (see [`RefusalHook`]).
    pub fn on_refusal(mut self, hook: impl Fn(crate::Refusal) + Send + Sync + 'static) -> Self {
        self.on_refusal = Some(Arc::new(hook));
        self
    }

    /// Checks the settings, fetches every trusted issuer's keys (at once, each bounded by
    /// its 5 s timeout; an issuer that cannot be reached is logged and retried, and does
    /// not stop the build), and starts refreshing them in the background for as long as
    /// the validator lives. Needs a tokio runtime when there are trusted issuers.
    ///
    /// Errors name the field at fault: `realm`, `issuer`, or `trusted[i].jwks_url`
    /// with `i` the order of [`trust`](Self::trust) calls.
    pub async fn build(self) -> Result<Arc<Validator>, SettingsError> {
        let (mut validator, settings) = self.assemble()?;
        let local_issuer = validator.local_issuer.clone();
        let mut trusted = Vec::new();
        if !settings.is_empty() {
            let client = crate::remote::http_client()?;
            for (index, issuer) in settings.iter().enumerate() {
                let field = format!("trusted[{index}]");
                if local_issuer.as_deref() == Some(issuer.issuer.as_str())
                    || settings[..index]
                        .iter()
                        .any(|other| other.issuer == issuer.issuer)
                {
                    return Err(SettingsError::new(
                        format!("{field}.issuer"),
                        "is already accepted: each issuer is listed once",
                    ));
                }
                let remote = Remote::new(issuer, client.clone()).map_err(|e| e.within(&field))?;
                trusted.push(Arc::new(remote));
            }
        }
        // The first fetches run side by side; each then schedules its own next one.
        let first: Vec<_> = trusted
            .iter()
            .map(|remote| {
                let remote = remote.clone();
                tokio::spawn(async move { remote.refresh().await })
            })
            .collect();
        for (remote, fetch) in trusted.iter().zip(first) {
            let delay = fetch.await.unwrap_or(crate::remote::RETRY_AFTER_FAILURE);
            keep_fresh(Arc::downgrade(remote), delay);
        }
        validator.trusted = trusted;
        Ok(Arc::new(validator))
    }

    /// As [`build`](Self::build) for a validator of the API's own tokens only, which
    /// fetches nothing and so needs no runtime: an authorization server checking the
    /// tokens it issued. Trusted issuers are refused (`trusted`).
    pub fn build_local(self) -> Result<Arc<Validator>, SettingsError> {
        if !self.trusted.is_empty() {
            return Err(SettingsError::new(
                "trusted",
                "needs build(): a trusted issuer's keys are fetched",
            ));
        }
        Ok(Arc::new(self.assemble()?.0))
    }

    /// Everything but the trusted issuers, which are returned to be fetched.
    fn assemble(self) -> Result<(Validator, Vec<TrustedIssuer>), SettingsError> {
        let mut challenges =
            Challenges::new(&self.realm).map_err(|message| SettingsError::new("realm", message))?;
        let dpop = match self.dpop {
            Some((public_url, replay)) => {
                let public_url = public_url.trim_end_matches('/').to_owned();
                if crate::dpop::normalize_url(&public_url).is_none() {
                    return Err(SettingsError::new(
                        "public_url",
                        "is not an absolute http or https URL",
                    ));
                }
                challenges = challenges.with_dpop();
                Some(DpopPolicy {
                    public_url,
                    replay,
                    nonces: self.nonces,
                })
            }
            None => None,
        };
        let local_issuer = self.local.as_ref().map(|(issuer, ..)| issuer.clone());
        let local = self.local.map(|(issuer, audience, keys)| Local {
            validations: keys
                .algorithms()
                .into_iter()
                .map(|alg| (alg, validation(alg, &issuer, &audience)))
                .collect(),
            any_audience: keys
                .algorithms()
                .into_iter()
                .map(|alg| {
                    let mut rules = validation(alg, &issuer, &audience);
                    rules.validate_aud = false;
                    (alg, rules)
                })
                .collect(),
            own_header: own_header_segment(&keys),
            keys,
        });
        let validator = Validator {
            local,
            local_issuer,
            trusted: Vec::new(),
            challenges,
            dpop,
            client_check: self.client_check,
            revocation_check: self.revocation_check,
            on_refusal: self.on_refusal,
        };
        Ok((validator, self.trusted))
    }
}

/// Refreshes a trusted issuer's keys until the validator holding it is dropped.
fn keep_fresh(remote: Weak<Remote>, first_delay: Duration) {
    tokio::spawn(async move {
        let mut delay = first_delay;
        loop {
            tokio::time::sleep(delay).await;
            let Some(remote) = remote.upgrade() else {
                return;
            };
            delay = remote.refresh().await;
        }
    });
}

/// The claims every local token carries (RFC 9068 §2.2); their presence is checked by
/// deserialising them (`exp`, `iss`, `aud` by jsonwebtoken).
#[derive(Deserialize)]
struct LocalClaims {
    iss: String,
    sub: String,
    client_id: String,
    scope: String,
    jti: String,
    iat: u64,
    exp: u64,
    aud: Audience,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    cnf: Option<crate::token::Confirmation>,
}

/// `aud`: one string or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Several(Vec<String>),
}

impl Audience {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Audience::One(one) => vec![one],
            Audience::Several(several) => several,
        }
    }
}

/// The rules a token of `issuer` for `audience` is checked against with a key of
/// `algorithm`.
pub(crate) fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation
}

/// Whether `iat` lies further in the future than the clock skew allows.
pub(crate) fn issued_in_future(iat: Option<u64>) -> bool {
    iat.is_some_and(|iat| iat > crate::token::now_seconds() + LEEWAY_SECONDS)
}

pub(crate) fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Rejection::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(_) => Rejection::MissingClaim,
        _ => Rejection::Malformed,
    }
}
