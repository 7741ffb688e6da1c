//! What operators see: a span and a log line per request, request ids, and Prometheus
//! metrics at `GET /metrics`.
//!
//! | metric | labels |
//! |---|---|
//! | `http_requests_total` | `method`, `route`, `status` |
//! | `http_request_duration_seconds` (histogram) | `route` |
//! | `tokens_issued_total` | |
//! | `client_authentication_failures_total` | `reason` |
//! | `throttled_requests_total` | |
//! | `config_reloads_total` | `outcome` (`applied`, `failed`) |
//! | `token_revocations_total` | `outcome` (`revoked`, `not_revoked`, `refused`) |
//! | `token_introspections_total` | `active` (`true`, `false`) |
//!
//! Every label value comes from a closed set, whatever clients send: `method` is a standard
//! method or `other`, `route` the path template (`/players/{id}`) or `unmatched`, `status`
//! one the server chose, `reason` one of the audit reasons. Only the method, the route, the status, the latency and
//! the request id are logged: never headers, bodies or query strings, so tokens and secrets
//! cannot reach the log.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderName, HeaderValue, Method},
};
use poem_client_credentials::{Events, TracingAudit, events};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use tracing::Instrument;
use uuid::Uuid;

use crate::openapi::RouteTable;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActiveLabel {
    active: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram>,
    tokens_issued: Counter,
    auth_failures: Family<ReasonLabel, Counter>,
    throttled: Counter,
    reloads: Family<OutcomeLabel, Counter>,
    revocations: Family<OutcomeLabel, Counter>,
    introspections: Family<ActiveLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let tokens_issued = Counter::default();
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        let throttled = Counter::default();
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued",
            tokens_issued.clone(),
        );
        registry.register(
            "client_authentication_failures",
            "Failed client authentications at the token endpoint, by reason",
            auth_failures.clone(),
        );
        registry.register(
            "throttled_requests",
            "Token requests refused with 429 by the brute-force throttle",
            throttled.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP): applied when the clients were replaced, failed when the previous ones were kept",
            reloads.clone(),
        );
        for outcome in ["applied", "failed"] {
            let _ = reloads.get_or_create(&OutcomeLabel { outcome });
        }
        let revocations = Family::<OutcomeLabel, Counter>::default();
        let introspections = Family::<ActiveLabel, Counter>::default();
        registry.register(
            "token_revocations",
            "Answered revocation requests (RFC 7009): revoked, not_revoked (nothing to revoke) or refused",
            revocations.clone(),
        );
        registry.register(
            "token_introspections",
            "Answered introspection requests (RFC 7662), by whether the token was shown active",
            introspections.clone(),
        );
        for outcome in ["revoked", "not_revoked", "refused"] {
            let _ = revocations.get_or_create(&OutcomeLabel { outcome });
        }
        for active in ["true", "false"] {
            let _ = introspections.get_or_create(&ActiveLabel { active });
        }
        Self {
            revocations,
            introspections,
            registry,
            requests,
            latency,
            tokens_issued,
            auth_failures,
            throttled,
            reloads,
        }
    }

    /// Counts a configuration reload: `applied` when the clients were replaced.
    pub fn config_reloaded(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "failed" };
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    fn request(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        text
    }
}

/// A client's `X-Request-Id` if it is short and plain (letters, digits, `-_.:`), else a
/// new UUID: an id is echoed and logged, so it must not carry anything else.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

/// The token endpoint's events: counted here, and written to the audit log by
/// `poem_client_credentials`' `TracingAudit`.
impl Events for Metrics {
    fn token_issued(&self, event: &events::Issued<'_>) {
        self.tokens_issued.inc();
        TracingAudit.token_issued(event);
    }

    fn client_refused(&self, event: &events::Refused<'_>) {
        // `reason` is one of a fixed set: a bounded label.
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: event.reason.to_owned(),
            })
            .inc();
        TracingAudit.client_refused(event);
    }

    fn throttled(&self, _source: Option<std::net::IpAddr>) {
        self.throttled.inc();
    }

    fn token_revoked(&self, event: &events::Revoked<'_>) {
        // One of three fixed values: a bounded label.
        let outcome = event.outcome.as_str();
        self.revocations
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        TracingAudit.token_revoked(event);
    }

    fn token_introspected(&self, event: &events::Introspected<'_>) {
        let active = if event.active { "true" } else { "false" };
        self.introspections
            .get_or_create(&ActiveLabel { active })
            .inc();
        TracingAudit.token_introspected(event);
    }
}

/// The method as a label value or log field: one of the standard methods (RFC 9110 §9,
/// PATCH), else `other`. hyper accepts any token as a method, so a client could otherwise
/// mint one metric series (and one log value) per request, of any length.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Wraps the app: request id in and out, one span and one log line per request, metrics,
/// and `X-Content-Type-Options: nosniff` on every response.
/// `inner` must already have turned every error into a response.
pub async fn observe<E: Endpoint<Output = Response>>(
    inner: Arc<E>,
    request: Request,
    routes: Arc<RouteTable>,
    metrics: Arc<Metrics>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = method_label(request.method());
    let route = routes
        .matching(request.uri().path())
        .map(|r| r.template.as_str())
        .unwrap_or("unmatched")
        .to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut response = match inner.call(request).instrument(span.clone()).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    metrics.request(method, &route, status, seconds);
    span.in_scope(|| {
        tracing::info!(status, latency_ms = seconds * 1000.0, "request completed");
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    // No response of ours is to be sniffed into another type (a JSON error as HTML...).
    headers.insert(
        poem::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_request_ids_are_kept_and_others_replaced() {
        let with = |v: &str| request_id(&Request::builder().header("x-request-id", v).finish());
        assert_eq!(with("abc-123_x.y:z"), "abc-123_x.y:z");
        assert_ne!(with("has space"), "has space");
        assert_ne!(with(&"a".repeat(129)), "a".repeat(129));
        assert_eq!(request_id(&Request::builder().finish()).len(), 36);
    }

    #[test]
    fn only_standard_methods_are_label_values() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let junk = Method::from_bytes(&b"X".repeat(300_000)).unwrap();
        assert_eq!(method_label(&junk), "other");
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "other");
    }

    #[test]
    fn metrics_render_in_prometheus_text() {
        let m = Metrics::new();
        m.token_issued(&events::Issued::new("svc", "api:write", "j", 1));
        m.client_refused(&events::Refused::new("svc", "wrong_secret"));
        m.request("GET", "/players", 200, 0.001);
        let text = m.render();
        assert!(text.contains("tokens_issued_total 1"), "{text}");
        assert!(
            text.contains("client_authentication_failures_total{reason=\"wrong_secret\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "http_requests_total{method=\"GET\",route=\"/players\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
