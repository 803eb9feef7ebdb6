//! The repository's `docker-compose.yaml` run as a user runs it, for end-to-end tests: images
//! built offline by `deploy/build-images.sh` from the `baton` binary cargo built, a project of
//! its own (so tests never touch a user's stack), and `down -v` however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Why Docker-based tests cannot run here, or `None` when they can: an engine answering
/// `docker info` and a compose tool (`docker compose` or `docker-compose`).
pub fn unavailable() -> Option<String> {
    match Command::new("docker").arg("info").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return Some(format!(
                "docker is not reachable: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Err(error) => return Some(format!("no docker command: {error}")),
    }
    if compose_command().is_none() {
        return Some("neither `docker compose` nor `docker-compose` is installed".to_owned());
    }
    None
}

/// `docker compose` (the plugin) when present, else the standalone `docker-compose`.
fn compose_command() -> Option<Vec<&'static str>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker", "compose"])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose"])
    } else {
        None
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// Builds `baton:<tag>` (and the base images that are missing) from the test build's binary.
pub fn build_images(image: &str) -> anyhow::Result<()> {
    let binary = crate::process::baton_binary();
    let out = Command::new(repo_root().join("deploy/build-images.sh"))
        .arg("--binary")
        .arg(&binary)
        .arg("--tag")
        .arg(image)
        .output()
        .context("cannot run deploy/build-images.sh")?;
    if !out.status.success() {
        bail!(
            "deploy/build-images.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A running compose project; `docker compose down -v` on drop.
pub struct ComposeStack {
    command: Vec<&'static str>,
    project: String,
    env: Vec<(String, String)>,
}

impl ComposeStack {
    /// A project named `project` over the repository's compose file, with `env` as the
    /// variables the file interpolates (BATON_IMAGE, BATON_PORT…). Nothing starts yet.
    pub fn new(project: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let command = compose_command().context("no compose tool")?;
        Ok(ComposeStack {
            command,
            project: project.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// Runs `compose ARGS` and returns its output; an error (with what it printed) unless it
    /// exits 0.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let root = repo_root();
        let mut command = Command::new(self.command[0]);
        command
            .args(&self.command[1..])
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(root.join("docker-compose.yaml"))
            .arg("--project-directory")
            .arg(&root)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = command
            .output()
            .with_context(|| format!("cannot run compose {args:?}"))?;
        if !out.status.success() {
            bail!(
                "compose {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// `http://127.0.0.1:PORT` where the host reaches `service`'s container port.
    pub fn url(&self, service: &str, port: u16) -> anyhow::Result<String> {
        let out = self.run(&["port", service, &port.to_string()])?;
        let published = String::from_utf8_lossy(&out.stdout);
        let host_port = published
            .lines()
            .find_map(|line| line.trim().rsplit_once(':'))
            .map(|(_, port)| port.to_owned())
            .with_context(|| format!("{service}:{port} is not published: {published:?}"))?;
        Ok(format!("http://127.0.0.1:{host_port}"))
    }

    /// The ids of the project's containers of `service` (running or not).
    pub fn containers(&self, service: &str) -> anyhow::Result<Vec<String>> {
        let out = self.run(&["ps", "-q", service])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Waits until every container of the project reports `healthy` (each runs `baton health`
    /// or `pg_isready` as its healthcheck).
    pub fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.health_states()?;
            if !states.is_empty() && states.iter().all(|(_, s)| s == "healthy") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("not every container became healthy within {timeout:?}: {states:?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `(container name, health status)` of each running container of the project.
    pub fn health_states(&self) -> anyhow::Result<Vec<(String, String)>> {
        let out = Command::new("docker")
            .args(["ps", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.project))
            .args(["--format", "{{.Names}}"])
            .output()?;
        let mut states = Vec::new();
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            let inspect = Command::new("docker")
                .args(["inspect", "--format", "{{.State.Health.Status}}", name])
                .output()?;
            states.push((
                name.to_owned(),
                String::from_utf8_lossy(&inspect.stdout).trim().to_owned(),
            ));
        }
        Ok(states)
    }

    /// The compose network the project's services share (`<project>_default`).
    pub fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    /// Runs `sql` with psql in the `postgres` service's container, on Baton's database; one
    /// row per line, the fields of a row in a `Vec` (unaligned, separated by U+001F).
    pub fn psql(&self, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
        let out = self.run(&[
            "exec",
            "-T",
            "postgres",
            "psql",
            "-U",
            "baton",
            "-d",
            "baton",
            "-v",
            "ON_ERROR_STOP=1",
            "-AtX",
            "-F",
            "\u{1f}",
            "-c",
            sql,
        ])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('\u{1f}').map(str::to_owned).collect())
            .collect())
    }

    /// The logs of the project's containers, for a failing test's message.
    pub fn logs(&self) -> String {
        self.run(&["logs", "--no-color", "--tail", "40"])
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_else(|error| format!("(no logs: {error})"))
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        if let Err(error) = self.run(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]) {
            eprintln!("cleaning up compose project {}: {error:#}", self.project);
        }
    }
}
