//! Start-up: from a validated [`Config`] to a bound, ready-to-serve [`Application`].
//!
//! Everything that can fail does so here, before the first request: the listener is
//! bound (port 0 picks a free port, which tests use), the database is opened and migrated,
//! and the signing key and client digests are built.

use std::{future::Future, io, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, Route, Server,
    endpoint::make_sync,
    get,
    listener::{Acceptor, BoxAcceptor, Listener, RustlsCertificate, RustlsConfig, TcpListener},
    middleware::CatchPanic,
    web::Html,
};
use poem_bearer::{
    dpop::{DPOP, NONCE_HEADER},
    token::now_seconds,
};

use poem::{
    IntoResponse,
    error::ResponseError,
    http::{HeaderValue, header},
};
use poem_client_credentials::{
    TokenError, introspection::INTROSPECTION_PATH, revocation::REVOCATION_PATH,
};
use secrecy::ExposeSecret;

use crate::{
    auth::{
        Auth, ClientDirectory,
        bearer::TOKEN_URL,
        discovery::{self, PublishedKeys},
    },
    config::Config,
    cors,
    error::{self, Error},
    openapi::{self, RouteTable},
    players::PlayerStore,
    request::{self, BodyLimit},
    telemetry::{self, Metrics},
};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    #[error("cannot serve HTTPS on {address} (check tls.certs and tls.key): {source}")]
    Tls {
        address: SocketAddr,
        source: io::Error,
    },
    #[error("cannot open the database {url}: {source}")]
    Database { url: String, source: sqlx::Error },
    #[error(
        "cannot open the database {url}: the directory {} does not exist (create it, or set database_url to a file in an existing directory)",
        .directory.display()
    )]
    DatabaseDirectory { url: String, directory: PathBuf },
    #[error("cannot set up token validation: {0}")]
    Auth(String),
    #[error("cannot read the revoked tokens: {source}")]
    Revocations { source: sqlx::Error },
    /// A guarded route misses route data it reads (a bug, not a configuration mistake).
    #[error("POST {path} answers {status} without credentials: its route data is not attached")]
    Attachments { path: &'static str, status: u16 },
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A bound server, ready to run.
pub struct Application {
    acceptor: BoxAcceptor,
    scheme: &'static str,
    clients: Arc<ClientDirectory>,
    metrics: Arc<Metrics>,
    idle_timeout: Duration,
    local_addr: SocketAddr,
    app: poem::endpoint::BoxEndpoint<'static>,
    store: PlayerStore,
}

/// Builds the whole application from a configuration: what `main` runs and what the
/// integration tests start on port 0.
pub async fn build(config: Config) -> Result<Application, StartupError> {
    let address = SocketAddr::new(config.address, config.port);
    let listener = TcpListener::bind(address);
    let acceptor = match &config.tls {
        Some(tls) => listener
            .rustls(
                RustlsConfig::new().fallback(
                    RustlsCertificate::new()
                        .cert(tls.certs_pem.clone())
                        .key(tls.key_pem.expose_secret().as_bytes().to_vec()),
                ),
            )
            .boxed()
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Tls { address, source })?,
        None => listener
            .boxed()
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind { address, source })?,
    };
    let local_addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(address);

    if let Some(directory) = PlayerStore::missing_sqlite_directory(&config.database_url) {
        return Err(StartupError::DatabaseDirectory {
            url: crate::config::mask_url_password(&config.database_url),
            directory,
        });
    }
    let store = PlayerStore::connect(&config.database_url, &config.database)
        .await
        .map_err(|source| match source {
            sqlx::Error::Migrate(e) => StartupError::Migrate(*e),
            source => StartupError::Database {
                url: crate::config::mask_url_password(&config.database_url),
                source,
            },
        })?;

    if config.public_url.is_none() && config.address.is_unspecified() {
        tracing::warn!(
            address = %config.address,
            "public_url is not set and the server listens on every address: DPoP proofs \
             name the URL their client used, which cannot match http://{local_addr}; \
             set public_url to the URL clients use"
        );
    }
    let public_url = config.public_url.clone().unwrap_or_else(|| {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{local_addr}")
    });
    let metrics = Arc::new(Metrics::new());
    let replay = crate::replay::for_store(&store);
    // Every live revocation is loaded before the first connection is accepted.
    let revocations =
        crate::revocations::SqlRevocations::load(&store, config.revocation.max_live_per_client)
            .await
            .map_err(|source| StartupError::Revocations { source })?;
    revocations.follow(crate::revocations::POLL_INTERVAL);
    let auth = Auth::new(&config, &public_url, replay, revocations, metrics.clone())
        .await
        .map_err(|e| StartupError::Auth(e.to_string()))?;
    let clients = auth.clients.clone();
    let app = routes(&config, auth, &public_url, store.clone(), metrics.clone()).await?;
    Ok(Application {
        metrics,
        acceptor,
        scheme: if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        clients,
        idle_timeout: Duration::from_secs(config.limits.idle_timeout_seconds),
        local_addr,
        app,
        store,
    })
}

/// The routes, with the auth state, the store and the error mapping attached, checked to
/// find what they read in the route data.
async fn routes(
    config: &Config,
    auth: Auth,
    public_url: &str,
    store: PlayerStore,
    metrics: Arc<Metrics>,
) -> Result<poem::endpoint::BoxEndpoint<'static>, StartupError> {
    let body_limit = BodyLimit {
        bytes: config.limits.body_bytes,
        timeout: Duration::from_secs(config.limits.body_timeout_seconds),
    };
    let jwks = config
        .jwt
        .keys
        .jwks()
        .and_then(|set| serde_json::to_value(set).ok());
    let metadata = Arc::new(discovery::metadata(
        &config.jwt.issuer,
        public_url,
        jwks.is_some(),
    ));
    let published_keys = Arc::new(PublishedKeys(jwks));
    let service = openapi::service();
    let document = openapi::document(&service);
    let swagger = openapi::swagger_page(&service, &document);
    let routes = Arc::new(
        RouteTable::from_document(&document)
            .with_read_only("/openapi.json")
            .with_read_only("/swagger")
            .with_read_only("/metrics"),
    );

    let spec_json = make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let csp = openapi::swagger_csp(&swagger);
    let swagger_ui = make_sync(move |_| {
        let mut response = Html(swagger.clone()).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    });
    let metrics_text = make_sync({
        let metrics = metrics.clone();
        move |_| {
            poem::Response::builder()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .body(metrics.render())
        }
    });

    let app = Route::new()
        .nest("/", service)
        .at("/openapi.json", get(spec_json))
        .at("/swagger", get(swagger_ui))
        .at("/metrics", get(metrics_text))
        .data(store)
        .data(auth.endpoint)
        .data(auth.validator)
        .data(metadata)
        .data(published_keys)
        .data(body_limit)
        .data(metrics.clone())
        .around({
            let routes = routes.clone();
            move |endpoint, request| {
                let routes = routes.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    // A declared body over the limit is refused before anything else, the
                    // token check included (a chunked one is stopped while being read).
                    if request::content_length(&request)
                        .is_some_and(|n| n > body_limit.bytes as u64)
                    {
                        return Ok(if is_oauth_endpoint(&path) {
                            TokenError::body_too_large().as_response()
                        } else {
                            Error::PayloadTooLarge.as_response()
                        });
                    }
                    let mut response = match endpoint.call(request).await {
                        Ok(response) => response,
                        Err(err) => error::into_response(err, || {
                            routes.matching(&path).map(|r| r.allow.clone())
                        }),
                    };
                    // Every answer of the OAuth endpoints is uncacheable, the router's
                    // own (405) included.
                    if is_oauth_endpoint(&path)
                        && !response.headers().contains_key(header::CACHE_CONTROL)
                    {
                        response
                            .headers_mut()
                            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    }
                    Ok(response)
                }
            }
        })
        .with(CatchPanic::new().with_handler(panic_response))
        .boxed();
    check_attachments(&app).await?;
    // Without allowed origins there is no CORS layer at all. (The box below it costs an
    // allocation per request, but measured fewer instructions overall than the unboxed
    // stack: see BENCHMARKS.md, issue 13.)
    let app = match config.cors.clone() {
        Some(origins) => {
            let origins = Arc::new(origins);
            let routes = routes.clone();
            app.around(move |endpoint, request| {
                let (origins, routes) = (origins.clone(), routes.clone());
                async move {
                    let methods = routes
                        .matching(request.uri().path())
                        .filter(|route| cors_covers(&route.template))
                        .map(|route| route.allow.clone());
                    cors::handle(&origins, methods, &endpoint, request).await
                }
            })
            .boxed()
        }
        None => app,
    };
    // A write refused after its guard (its body, the database) takes its proof back.
    let app = app.around(poem_bearer::dpop::forget_refused_proofs).boxed();
    // While nonces are required, every answer to a request with a proof hands out a
    // fresh one (RFC 9449 §8.2), so clients keep theirs current without a refusal.
    let app = match config.dpop_nonces.clone() {
        Some(nonces) => app
            .around(move |endpoint, request| {
                let nonces = nonces.clone();
                async move {
                    // Revocation and introspection ignore a `DPoP` header: no nonce.
                    let path = request.uri().path();
                    let proof = request.headers().contains_key(DPOP)
                        && path != REVOCATION_PATH
                        && path != INTROSPECTION_PATH;
                    let mut response = endpoint.call(request).await?;
                    if proof
                        && let Ok(nonce) = HeaderValue::from_str(&nonces.current(now_seconds()))
                    {
                        response.headers_mut().insert(NONCE_HEADER, nonce);
                    }
                    Ok(response)
                }
            })
            .boxed(),
        None => app,
    };
    Ok(app
        .around(move |endpoint, request| {
            telemetry::observe(endpoint, request, routes.clone(), metrics.clone())
        })
        .boxed())
}

/// The writes' guards and the token operation read what they need from the route data
/// (`poem_bearer`'s `Validator`, `poem_client_credentials`' `TokenEndpoint`); without it
/// they would answer 500. One request to each, below the telemetry layer (nothing is
/// logged or counted), turns a forgotten attachment into a start-up error: a write without
/// a token must be refused 401, and an empty token request 400.
async fn check_attachments(app: &poem::endpoint::BoxEndpoint<'static>) -> Result<(), StartupError> {
    use poem::{
        Endpoint, Request,
        http::{Method, StatusCode, Uri},
    };
    for (path, expected) in [
        ("/players", StatusCode::UNAUTHORIZED),
        (TOKEN_URL, StatusCode::BAD_REQUEST),
        (REVOCATION_PATH, StatusCode::BAD_REQUEST),
        (INTROSPECTION_PATH, StatusCode::BAD_REQUEST),
    ] {
        let request = Request::builder()
            .method(Method::POST)
            .uri(Uri::from_static(path))
            .finish();
        let status = match app.call(request).await {
            Ok(response) => response.status(),
            Err(err) => err.status(),
        };
        if status != expected {
            return Err(StartupError::Attachments {
                path,
                status: status.as_u16(),
            });
        }
    }
    Ok(())
}

/// A panic in a handler is answered 500 like any internal error (and logged by poem).
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> poem::Response {
    Error::Internal.as_response()
}

/// Whether `path` is one of the OAuth endpoints (token, revocation, introspection), whose
/// errors are OAuth JSON rather than problem details.
fn is_oauth_endpoint(path: &str) -> bool {
    matches!(path, TOKEN_URL | REVOCATION_PATH | INTROSPECTION_PATH)
}

/// Whether CORS covers a route: what a page on another origin needs (tokens, discovery,
/// keys, the document, the players), not Swagger UI, health or metrics.
fn cors_covers(template: &str) -> bool {
    is_oauth_endpoint(template)
        || matches!(
            template,
            "/.well-known/oauth-authorization-server" | "/.well-known/jwks.json" | "/openapi.json"
        )
        || template == "/players"
        || template.starts_with("/players/")
}

/// Reloads the client list from the configuration a running server was started with.
#[derive(Clone)]
pub struct Reloader {
    clients: Arc<ClientDirectory>,
    metrics: Arc<Metrics>,
}

impl Reloader {
    /// Reads the configuration again. The clients are replaced whenever the client list
    /// itself is valid (release checks included), whatever else is wrong: a disabled
    /// client must stop working even if, say, a TLS file read only at start-up has moved.
    /// Mistakes in other settings are logged at ERROR (they would stop the next start);
    /// an invalid client list keeps the previous clients. Returns whether the clients
    /// were replaced, and counts it in `config_reloads_total`.
    pub async fn reload(&self) -> bool {
        // The whole configuration is read once; only when it fails is the client list
        // read on its own, to replace the clients all the same.
        let clients = match Config::load() {
            Ok((config, _)) => Ok(config.clients),
            Err(e) => {
                tracing::error!(
                    "the configuration no longer loads (settings other than clients take effect \
                     only at start-up, and a restart would fail): {e}"
                );
                Config::load_clients()
            }
        };
        let applied = match clients {
            Ok(configs) => {
                let current = self.clients.current();
                let count = configs.len();
                // A new Argon2 parameter set is timed once: off the async threads.
                match tokio::task::spawn_blocking(move || current.reloaded(&configs)).await {
                    Ok(registry) => {
                        self.clients.replace(registry);
                        tracing::info!(clients = count, "clients reloaded (SIGHUP)");
                        true
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload failed, keeping the previous clients");
                        false
                    }
                }
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the previous clients: {e}");
                false
            }
        };
        self.metrics.config_reloaded(applied);
        applied
    }
}

impl Application {
    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The address actually bound (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The client list the running server uses, to replace on a configuration reload.
    pub fn clients(&self) -> Arc<ClientDirectory> {
        self.clients.clone()
    }

    /// What reloads this server's clients (on SIGHUP).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            clients: self.clients.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets in-flight requests
    /// finish (for at most [`SHUTDOWN_GRACE`]) and closes the database.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> io::Result<()> {
        let result = Server::new_with_acceptor(self.acceptor)
            .idle_timeout(self.idle_timeout)
            .run_with_graceful_shutdown(self.app, signal, Some(SHUTDOWN_GRACE))
            .await;
        self.store.close().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes without the validator and the token endpoint attached: the start-up
    /// check refuses them, instead of a 500 on the first write.
    #[tokio::test]
    async fn routes_missing_their_auth_data_do_not_start() {
        let bare = Route::new().nest("/", openapi::service()).boxed();
        match check_attachments(&bare).await {
            Err(StartupError::Attachments { path, status }) => {
                assert_eq!((path, status), ("/players", 500));
            }
            other => panic!("{other:?}"),
        }
    }
}
