//! The `players-api` binary: `serve` (the default) or `openapi`.

use std::{io::IsTerminal, process::ExitCode};

use clap::{Parser, Subcommand};
use players_api::{
    Config, Reloader,
    auth::{enrol, keys, scopes::Scope},
    build,
    config::{self, LogFormat},
    openapi,
};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "Players API with OAuth 2.0 client-credentials JWT protection"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document (the text of openapi/openapi.json) and exit.
    Openapi,
    /// Generate a signing key and print the configuration lines that use it, for the
    /// profile this binary runs.
    GenerateKey {
        /// HS256 (a shared secret), EdDSA (Ed25519) or ES256 (P-256).
        #[arg(long, default_value = "HS256")]
        algorithm: String,
        /// The profile whose tables the lines are for [default: the one this binary runs:
        /// APP_PROFILE, else debug for debug builds and release for release builds].
        #[arg(long)]
        profile: Option<String>,
    },
    /// Load and validate the configuration the server would use, print it with secrets
    /// masked, and exit 0 if it is valid (non-zero otherwise) without serving.
    CheckConfig,
    /// Revoke one access token of this server by its `jti` (from the audit log or the
    /// token itself), in the configured database: every instance refuses it within 2 s.
    /// For a leaked token when its client's credentials are not at hand.
    Revoke {
        /// The token's `jti`.
        #[arg(long)]
        jti: String,
    },
    /// Create a client: print a new random secret (once) and the config entry holding
    /// only its Argon2id hash.
    CreateClient {
        /// The new client's id.
        client_id: String,
        /// Scopes the client may be granted, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "api:write")]
        scopes: Vec<String>,
        /// The profile table the entry goes in [default: the one this binary runs:
        /// APP_PROFILE, else debug for debug builds and release for release builds].
        #[arg(long)]
        profile: Option<String>,
        /// How the client authenticates: `client_secret` (a random secret; the entry
        /// holds its Argon2id hash) or `private_key_jwt` (an Ed25519 key pair; the entry
        /// holds the public key).
        #[arg(long, value_enum, default_value = "client_secret")]
        auth: AuthChoice,
        /// A resource server (absolute URI) the client may ask tokens for, as RFC 8707
        /// `resource`; repeat for several.
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// The lifetime of the client's tokens, 1 to 86400 seconds, instead of
        /// `jwt.expires_in_seconds`.
        #[arg(long)]
        token_lifetime_seconds: Option<u64>,
        /// The client may introspect every token of this server (RFC 7662), not only its
        /// own.
        #[arg(long)]
        introspect: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AuthChoice {
    #[value(name = "client_secret")]
    ClientSecret,
    #[value(name = "private_key_jwt")]
    PrivateKeyJwt,
}

#[tokio::main]
async fn main() -> ExitCode {
    return_large_allocations_to_the_os();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        end_quietly_on_a_closed_pipe();
    }
    match command {
        Command::Openapi => {
            print!("{}", openapi::document(&openapi::service()));
            ExitCode::SUCCESS
        }
        Command::Serve => serve().await,
        Command::CheckConfig => check_config(),
        Command::Revoke { jti } => revoke(&jti).await,
        Command::GenerateKey { algorithm, profile } => match profile_for_output(profile) {
            Ok(profile) => generate_key(&algorithm, &profile),
            Err(code) => code,
        },
        Command::CreateClient {
            client_id,
            scopes,
            profile,
            auth,
            resources,
            token_lifetime_seconds,
            introspect,
        } => match profile_for_output(profile) {
            Ok(profile) => {
                let policy = enrol::Policy {
                    resources,
                    token_lifetime_seconds,
                    introspect,
                };
                create_client(&client_id, &scopes, &profile, auth, &policy)
            }
            Err(code) => code,
        },
    }
}

/// Makes glibc's malloc hand every allocation of 4 MiB or more straight back to the OS
/// when it is freed. Each Argon2 run allocates its whole memory cost (19 MiB by default,
/// 64 MiB for some tools' hashes); with glibc's default, adaptive threshold, those buffers
/// were kept in the heap after use, one more with every run (measured: +19.5 MiB of RSS
/// per wrong secret, 148 MiB under a flood), instead of the bound of one buffer per
/// Argon2 thread. Nothing on the request paths allocates that much.
fn return_large_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning, under malloc's own lock; it takes no
    // pointer and cannot invalidate any allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// The profile whose tables a printing subcommand writes: `--profile` if given, else
/// the one this binary would run. Lower-cased (profile names are case-insensitive, and
/// `[Debug]` next to `[debug]` is refused), and a bare TOML key, so the printed table
/// header means what it says.
fn profile_for_output(given: Option<String>) -> Result<String, ExitCode> {
    let profile = given
        .unwrap_or_else(|| config::running_profile().as_str().as_str().to_owned())
        .to_ascii_lowercase();
    let bare = !profile.is_empty()
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        Ok(profile)
    } else {
        eprintln!("a profile name is letters, digits, '_' and '-' only");
        Err(ExitCode::FAILURE)
    }
}

/// The subcommands that print are read through pipes (`check-config | head`): when the
/// reader goes away, end the way other command-line tools do, by SIGPIPE, instead of
/// panicking in `println!` (Rust ignores SIGPIPE by default). The server keeps ignoring
/// it: a client closing its socket must not end the process.
fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread that could be
    // writing exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints a new key as TOML for `profile`. Whatever the shipped file holds, merging the
/// printed keys into its `[profile.jwt]` table (replacing those there) and removing the
/// keys named in backticks gives a working configuration: the tests do exactly that.
fn generate_key(name: &str, profile: &str) -> ExitCode {
    let Some(algorithm) = keys::parse_algorithm(name) else {
        eprintln!("unknown algorithm \"{name}\"; use {}", keys::SUPPORTED);
        return ExitCode::FAILURE;
    };
    let generated = match keys::generate(algorithm) {
        Ok(generated) => generated,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let kid = &generated.kid;
    let secret = generated.secret_or_private_pem.trim_end();
    let (what, setting, value, variable, others) = match generated.public_pem {
        None => (
            "secret",
            "key",
            format!("\"{secret}\""),
            "APP_JWT__KEY",
            "`private_key` and `private_key_file`",
        ),
        Some(_) => (
            "private key",
            "private_key",
            format!("\"\"\"\n{secret}\n\"\"\""),
            "APP_JWT__PRIVATE_KEY",
            "`key` and `private_key_file`",
        ),
    };
    println!("# A new {name} signing key, kid \"{kid}\". Keep the {what} in a secret store.");
    println!("#");
    println!("# For the {profile} profile (the one this binary runs; --profile picks another),");
    println!("# either merge the keys below into the [{profile}.jwt] table of the config file,");
    println!("# replacing those already there, and remove {others} from that");
    println!("# table if they are there; or set them in the environment instead:");
    println!("# APP_JWT__ALGORITHM, APP_JWT__KEY_ID and {variable}.");
    println!("[{profile}.jwt]");
    println!("algorithm = \"{name}\"");
    println!("key_id = \"{kid}\"");
    println!("{setting} = {value}");
    println!();
    println!("# After the next rotation this key no longer signs, but still verifies the tokens");
    println!("# it signed: then add this entry to the same profile.");
    println!("# [[{profile}.jwt.previous_keys]]");
    println!("# key_id = \"{kid}\"");
    match &generated.public_pem {
        None => println!("# key = \"{secret}\""),
        Some(public) => {
            println!("# algorithm = \"{name}\"");
            for (i, line) in public.trim_end().lines().enumerate() {
                let prefix = if i == 0 {
                    "# public_key = \"\"\"\n# "
                } else {
                    "# "
                };
                println!("{prefix}{line}");
            }
            println!("# \"\"\"");
        }
    }
    ExitCode::SUCCESS
}

async fn revoke(jti: &str) -> ExitCode {
    if jti.is_empty() || jti.len() > 256 || jti.chars().any(char::is_control) {
        eprintln!("the jti must be 1 to 256 bytes without control characters");
        return ExitCode::FAILURE;
    }
    let config = match Config::load() {
        Ok((config, _)) => config,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    use poem_client_credentials::RevocationStore;
    // Kept until any token this server can have issued is expired for good: a day (the
    // longest lifetime any configuration allows, past or present) and the leeway.
    let until = poem_client_credentials::revocation::lapses_at(
        players_api::auth::token::now_seconds()
            .saturating_add(poem_client_credentials::settings::MAX_TOKEN_LIFETIME_SECONDS),
    );
    let revoked = async {
        let store =
            players_api::players::PlayerStore::connect(&config.database_url, &config.database)
                .await
                .map_err(|e| e.to_string())?;
        let written = players_api::revocations::SqlRevocations::open(
            &store,
            config.revocation.max_live_per_client,
        )
        .map_err(|e| e.to_string())?
        .revoke(poem_client_credentials::revocation::Revocation {
            jti,
            client_id: None,
            until,
        })
        .await
        .map_err(|e| format!("{e:?}"));
        store.close().await;
        written
    };
    match revoked.await {
        Ok(()) => {
            println!(
                "revoked the token with jti \"{jti}\" (kept until {until}, Unix time); \
                 running instances refuse it within 2 s"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot revoke: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config() -> ExitCode {
    match Config::load() {
        Ok((config, origin)) => {
            println!(
                "configuration file {}, profile {}: valid",
                origin.file.display(),
                origin.profile
            );
            for name in &origin.ignored_env {
                println!("warning: ignoring {name}, which names no setting");
            }
            if let Some(warning) = origin.debug_in_release_warning() {
                println!("warning: {warning}");
            }
            for warning in &origin.replaced_arrays {
                println!("warning: {warning}");
            }
            match serde_json::to_string_pretty(&config.redacted()) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("cannot print the configuration: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            ExitCode::FAILURE
        }
    }
}

fn create_client(
    client_id: &str,
    scope_names: &[String],
    profile: &str,
    auth: AuthChoice,
    policy: &enrol::Policy,
) -> ExitCode {
    let mut scopes = Vec::new();
    for name in scope_names {
        match Scope::parse(name) {
            Some(scope) => scopes.push(scope),
            None => {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                eprintln!(
                    "unknown scope \"{name}\"; known scopes: {}",
                    known.join(", ")
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let credential = match auth {
        AuthChoice::ClientSecret => enrol::Credential::Secret,
        AuthChoice::PrivateKeyJwt => enrol::Credential::PrivateKeyJwt,
    };
    match enrol::create_client(client_id, &scopes, profile, credential, policy) {
        Ok(new) => {
            let (what, stored, comment) = match credential {
                enrol::Credential::Secret => ("secret", "its hash", "client_secret comment"),
                enrol::Credential::PrivateKeyJwt => {
                    ("private key", "its public key", "PRIVATE KEY comment")
                }
            };
            // The secret is a TOML comment so the whole output still parses, but it must
            // not stay in a config file: the entry below holds only its hash (or the
            // public key).
            println!(
                "# New client \"{client_id}\" for the {profile} profile (the one this binary runs;"
            );
            println!("# --profile picks another). Append this output to the config file as it is:");
            println!(
                "# it adds a [[{profile}.clients]] entry beside those already there. Then send"
            );
            println!("# the server SIGHUP, or restart it.");
            println!("# The {what} is shown only this once and is stored nowhere: give it to the");
            println!("# client now, and delete this comment from the config file. The entry holds");
            println!("# only {stored}.");
            match credential {
                enrol::Credential::Secret => println!("# client_secret = \"{}\"", new.secret),
                enrol::Credential::PrivateKeyJwt => {
                    println!("# The client signs its client assertions with this key (EdDSA):");
                    for line in new.secret.lines() {
                        println!("# {line}");
                    }
                }
            }
            println!();
            print!("{}", new.toml);
            if !std::io::stdout().is_terminal() {
                // `>> Rocket.toml`: the person sees nothing else. The secret itself stays
                // off stderr, which scripts and CI logs keep.
                eprintln!(
                    "created client \"{client_id}\" for the {profile} profile: its {what} is in \
                     the {comment} of the output; give it to the client, then delete the comment"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stdout: human-readable lines, or JSON lines with `log.format = "json"`.
/// The level comes from `RUST_LOG` (default `info`). Lines are written by a background
/// thread so requests never wait on the terminal or disk; it is not lossy (a full buffer
/// makes the logger wait rather than drop an audit line), and the returned guard flushes
/// it at exit.
///
/// The thread takes whatever lines are queued, writes them, and flushes once the queue is
/// empty. `Stdout` alone would make that a `write` syscall per line (it is line-buffered);
/// behind a `BufWriter` a busy server writes a batch of lines per syscall, and an idle
/// one still writes each line as soon as it is logged.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
    guard
}

async fn serve() -> ExitCode {
    // Listen for SIGHUP before anything else: its default action ends the process, and a
    // reload asked for during start-up (migrations waiting on a lock...) runs once the
    // server is ready.
    let hangups = hangup_signals();
    let loaded = Config::load();
    // The log format is configuration; a configuration error is logged as text.
    let _log_guard = init_logging(
        loaded
            .as_ref()
            .map(|(c, _)| c.log.format)
            .unwrap_or_default(),
    );
    let (config, origin) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!("invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &origin.replaced_arrays {
        tracing::warn!("{warning}");
    }
    for name in &origin.ignored_env {
        tracing::warn!(variable = %name, "ignoring an APP_ variable that names no setting");
    }
    tracing::info!(file = %origin.file.display(), profile = %origin.profile, "configuration loaded");
    if let Some(warning) = config.plain_http_warning(origin.release_checks) {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = origin.debug_in_release_warning() {
        tracing::warn!("{warning}");
    }

    let app = match build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(reload_on_sighup(hangups, app.reloader()));
    tracing::info!(
        "listening on {scheme}://{addr} (Swagger UI at {scheme}://{addr}/swagger)",
        scheme = app.scheme(),
        addr = app.local_addr()
    );
    match app.run_until(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

/// SIGHUP, caught from now on.
fn hangup_signals() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup()).ok()
    }
}

/// On SIGHUP, reads the configuration again and replaces the client list: a client added,
/// removed, given a new secret or set to `enabled = false` takes effect without a restart.
/// Everything else (keys, address, database) still needs one; see [`Reloader::reload`].
async fn reload_on_sighup(hangups: Hangups, reloader: Reloader) {
    #[cfg(unix)]
    {
        let Some(mut hangups) = hangups else {
            tracing::warn!("cannot listen for SIGHUP: clients reload only on restart");
            return;
        };
        while hangups.recv().await.is_some() {
            reloader.reload().await;
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, reloader);
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, what container runtimes send.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}
