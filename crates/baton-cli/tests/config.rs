//! The configuration layers as the real binary reads them: a `baton.yaml` (named or found in
//! the working directory), `BATON_*` variables and flags; `--dump-config`; a bad file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("baton-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `baton ARGS` in `dir` with only `envs` among the `BATON_*` variables.
fn baton(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            command.env_remove(key);
        }
    }
    command.envs(envs.iter().copied());
    command
}

fn run(mut command: Command) -> (Output, String, String) {
    let output = command.output().expect("run baton");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

const FILE: &str = "\
# Shared by every role of the deployment.
server:
  listen: 10.1.1.1:7000
  dataDir: /srv/baton
  basicAuth:
    username: admin
    password: from-the-file
database:
  url: postgres://baton:db-secret@db:5432/baton
worker:
  token: token-secret
  slots: 3
leases:
  claim: PT1M
log:
  format: json
";

#[test]
fn dump_config_shows_flags_over_variables_over_the_file_with_secrets_redacted() {
    let dir = Scratch::new("dump");
    let file = dir.write("prod.yaml", FILE);
    let file = file.to_str().unwrap();
    let args = [
        "server",
        "standalone",
        "--config",
        file,
        "--slots",
        "5",
        "--dump-config",
    ];
    let envs = [
        ("BATON_LISTEN", "10.2.2.2:7001"),
        ("BATON_WORKER_SLOTS", "4"),
    ];
    let (output, stdout, stderr) = run(baton(&dir.0, &args, &envs));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("# The effective configuration of `baton server standalone`"));
    assert!(stdout.contains(&format!("< {file} <")), "{stdout}");
    for line in [
        "  listen: \"10.2.2.2:7001\"",
        "  dataDir: \"/srv/baton\"",
        "    username: \"admin\"",
        "    password: \"<redacted>\"",
        "  url: \"postgres://baton:<redacted>@db:5432/baton\"",
        "  token: \"<redacted>\"",
        "  slots: 5",
        "  claim: 60.0",
        "  worker: 30.0",
        "  format: \"json\"",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in\n{stdout}");
    }
    for secret in ["from-the-file", "db-secret", "token-secret"] {
        assert!(!stdout.contains(secret), "{secret} leaked:\n{stdout}");
    }
    // Nothing was started: the address in the file is not this machine's.
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_baton_yaml_in_the_working_directory_is_read_and_its_mistakes_located() {
    let dir = Scratch::new("found");
    dir.write("baton.yaml", "server:\n  dataDir: data-from-file\n");
    let args = ["server", "local", "--dump-config"];
    let (output, stdout, stderr) = run(baton(&dir.0, &args, &[]));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("< ./baton.yaml <"), "{stdout}");
    assert!(stdout.contains("  dataDir: \"data-from-file\""), "{stdout}");
    assert!(stdout.contains("  listen: \"127.0.0.1:8080\""), "{stdout}");

    dir.write(
        "baton.yaml",
        "server:\n  listen: 127.0.0.1:0\n  dataDri: x\nlog:\n  format: yaml\n",
    );
    let (output, _, stderr) = run(baton(&dir.0, &args, &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("./baton.yaml:3:3: unknown property 'dataDri' (did you mean 'dataDir'?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("./baton.yaml:5:11: 'format': unknown value 'yaml'"),
        "{stderr}"
    );

    let args = ["server", "local", "--config", "missing.yaml"];
    let (output, _, stderr) = run(baton(&dir.0, &args, &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the configuration file missing.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_role_without_what_it_needs_names_the_key_variable_and_flag() {
    let dir = Scratch::new("missing");
    let (output, _, stderr) = run(baton(&dir.0, &["server", "executor"], &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs database.url (BATON_DATABASE_URL, --database-url)"),
        "{stderr}"
    );
    let args = ["server", "worker", "--executor", "http://127.0.0.1:1"];
    let (output, _, stderr) = run(baton(&dir.0, &args, &[("BATON_WORKER_SLOTS", "0")]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs worker.token"), "{stderr}");
    let (output, _, stderr) = run(baton(
        &dir.0,
        &args,
        &[("BATON_WORKER_SLOTS", "0"), ("BATON_WORKER_TOKEN", "t")],
    ));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("worker.slots (BATON_WORKER_SLOTS, --slots) must be at least 1"),
        "{stderr}"
    );
}

/// The server runs with what the file says: its basic auth guards the API it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_with_the_configuration_of_the_file() -> anyhow::Result<()> {
    let dir = Scratch::new("serve");
    dir.write(
        "baton.yaml",
        "server:\n  listen: 127.0.0.1:0\n  dataDir: data\n  basicAuth:\n    username: ops\n    password: pw\nworker:\n  slots: 1\n",
    );
    let mut child = baton(&dir.0, &["server", "local"], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("baton is listening on ") {
                let _ = address_tx.send(address.to_owned());
            }
        }
    });
    let result = async {
        let base = address_rx.recv_timeout(Duration::from_secs(30))?;
        let http = reqwest::Client::new();
        let url = format!("{base}/api/v1/flows/search");
        let refused = http.get(&url).send().await?;
        anyhow::ensure!(refused.status() == 401, "{}", refused.status());
        let allowed = http.get(&url).basic_auth("ops", Some("pw")).send().await?;
        anyhow::ensure!(allowed.status() == 200, "{}", allowed.status());
        anyhow::ensure!(
            dir.0.join("data/baton.db").exists(),
            "the store is in dataDir"
        );
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}
