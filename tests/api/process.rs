//! The server binary as an operator runs it: a child process with a config file, whose
//! log the tests read.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tempfile::TempDir;

pub struct ServerProcess {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
    config: PathBuf,
    _dir: Arc<TempDir>,
}

/// `players-api` with no `APP_` variables from the test's environment.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_players-api"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars() {
        if name.starts_with("APP_") {
            command.env_remove(name);
        }
    }
    command
}

impl ServerProcess {
    /// Starts the binary with `config` (TOML, `[default]` profile; port 0 and a fresh
    /// database are added) and waits until it listens.
    pub fn start(config: &str) -> ServerProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("players.db").display());
        Self::start_on(&url, config, dir)
    }

    /// As [`ServerProcess::start`], on the database at `url`.
    pub fn start_with_database(url: &str, config: &str) -> ServerProcess {
        Self::start_on(url, config, tempfile::tempdir().expect("temp dir"))
    }

    fn start_on(url: &str, config: &str, dir: TempDir) -> ServerProcess {
        let mut server = Self::spawn_on(url, config, dir);
        server.wait_until_listening();
        server
    }

    fn spawn_on(url: &str, config: &str, dir: TempDir) -> ServerProcess {
        let path = dir.path().join("config.toml");
        let text = format!("[default]\nport = 0\ndatabase_url = \"{url}\"\n{config}");
        std::fs::write(&path, text).expect("write config");
        Self::spawn_with_file(&path, Arc::new(dir))
    }

    /// As [`ServerProcess::start_with_database`], without waiting for it to listen.
    pub fn spawn_with_database(url: &str, config: &str) -> ServerProcess {
        Self::spawn_on(url, config, tempfile::tempdir().expect("temp dir"))
    }

    /// The configuration file it runs on.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Sends SIGHUP.
    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success());
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and starts it again
    /// on the same configuration and database.
    pub fn kill_and_restart(self) -> ServerProcess {
        let (config, dir) = (self.config.clone(), self._dir.clone());
        drop(self);
        Self::start_with_file(&config, dir)
    }

    /// Replaces the `[default]` part of the configuration file after the port and database
    /// (what `start` was given) and sends SIGHUP.
    pub fn reconfigure(&self, config: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let head: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        std::fs::write(&self.config, format!("{head}{config}")).expect("write config");
        self.hang_up();
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("wait")
    }

    fn start_with_file(path: &Path, dir: Arc<TempDir>) -> ServerProcess {
        let mut server = Self::spawn_with_file(path, dir);
        server.wait_until_listening();
        server
    }

    /// Starts the binary on the configuration file at `path` exactly as written, with
    /// the `APP_` variables in `env` (e.g. port 0 and a database of the test's own), and
    /// waits until it listens. `dir` is kept until the server is dropped.
    pub fn start_file(path: &Path, dir: TempDir, env: &[(&str, &str)]) -> ServerProcess {
        let mut server = Self::spawn_with_file_env(path, Arc::new(dir), env);
        server.wait_until_listening();
        server
    }

    fn spawn_with_file(path: &Path, dir: Arc<TempDir>) -> ServerProcess {
        Self::spawn_with_file_env(path, dir, &[])
    }

    fn spawn_with_file_env(path: &Path, dir: Arc<TempDir>, env: &[(&str, &str)]) -> ServerProcess {
        crate::helpers::install_crypto();
        let mut child = command()
            .envs(env.iter().copied())
            .env("APP_CONFIG", path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start players-api");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        ServerProcess {
            child,
            base: String::new(),
            log,
            config: path.to_path_buf(),
            _dir: dir,
        }
    }

    /// Waits until the server logs the address it listens on, and takes it as `base`.
    pub fn wait_until_listening(&mut self) {
        let started = Instant::now();
        let (log, child) = (self.log.clone(), &mut self.child);
        self.base = loop {
            let text = log.lock().expect("log").clone();
            if let Some(at) = text.find("listening on http://") {
                let rest = &text[at + "listening on ".len()..];
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("players-api did not start:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
    }

    /// Everything the server logged so far, after a moment for the last lines to arrive.
    pub fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        self.log.lock().expect("log").clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
