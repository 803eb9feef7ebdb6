//! The client commands as a user runs them: a real `baton server local` process, and the real
//! `baton` binary talking to it over HTTP. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one client command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A `baton server local` on a free port with its own data directory, stopped on drop.
struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// A server started with extra flags.
    fn start_with(name: &str, flags: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("baton-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["server", "local", "--listen", "127.0.0.1:0", "--slots", "2"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baton server local");
        let stderr = child.stderr.take().expect("piped stderr");
        let (address_tx, address_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("baton is listening on ") {
                    let _ = address_tx.send(address.to_owned());
                }
            }
        });
        let url = address_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its address");
        Self { child, url, dir }
    }

    /// Writes a flow file in the server's scratch directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write flow file");
        path
    }

    fn baton(&self) -> Command {
        baton(&self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn baton(server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command
        .env("BATON_SERVER", server)
        .env_remove("BATON_USER")
        .stdin(Stdio::null());
    command
}

/// A finished command: its exit code and output as text.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs a command to its end, killing it (and failing) after [`COMMAND_TIMEOUT`].
#[track_caller]
fn run(command: &mut Command) -> Ran {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton");
    wait(&mut child, COMMAND_TIMEOUT)
}

#[track_caller]
fn wait(child: &mut Child, limit: Duration) -> Ran {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for baton").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let ran = Ran::from(take_output(child));
            panic!("baton did not end within {limit:?}: {ran:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ran::from(take_output(child))
}

fn take_output(child: &mut Child) -> Output {
    use std::io::Read as _;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut stderr);
    }
    Output {
        status: child.wait().expect("exit status"),
        stdout,
        stderr,
    }
}

#[track_caller]
fn deploy(server: &Server, file: &Path) {
    let ran = run(server.baton().arg("flow").arg("deploy").arg(file));
    assert_eq!(ran.code, Some(0), "{ran:?}");
}

const HELLO: &str = r#"
id: hello
namespace: tests.cli
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "shell says {{ outputs.greet.value }}"
"#;

const FAILING: &str = r#"
id: failing
namespace: tests.cli
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: before the failure
  - id: boom
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo about to fail >&2
      - exit 3
"#;

const ALLOWED_FAILURE: &str = r#"
id: allowed
namespace: tests.cli
tasks:
  - id: shaky
    type: io.kestra.plugin.core.execution.Fail
    allowFailure: true
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: went on
"#;

const SLEEPER: &str = r#"
id: sleeper
namespace: tests.cli
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo going to sleep
      - sleep 30
"#;

#[test]
fn flow_deploy_validates_locally_then_creates_and_updates() {
    let server = Server::start("deploy");
    let hello = server.file("hello.yaml", HELLO);
    let ran = run(server.baton().args(["flow", "deploy"]).arg(&hello));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "tests.cli.hello revision 1\n", "{ran:?}");

    // An invalid file: its positions are printed and nothing is deployed, not even the valid
    // file given with it.
    let invalid = server.file(
        "invalid.yaml",
        "id: invalid\nnamespace: tests.cli\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.log.Lgo\n    message: hi\n",
    );
    let changed = server.file("changed.yaml", &HELLO.replace("hello {{", "hi {{"));
    let ran = run(server
        .baton()
        .args(["flow", "deploy"])
        .arg(&changed)
        .arg(&invalid));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains(&format!(
            "{}:5:11: unknown task type 'io.kestra.plugin.core.log.Lgo'",
            invalid.display()
        )),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("nothing deployed"), "{ran:?}");
    assert_eq!(ran.stdout, "", "{ran:?}");

    // Deploying a changed flow again is an update: a new revision.
    let ran = run(server.baton().args(["flow", "deploy"]).arg(&changed));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "tests.cli.hello revision 2\n", "{ran:?}");
}

#[test]
fn execution_run_wait_prints_task_states_and_logs_and_exits_0() {
    let server = Server::start("run");
    deploy(&server, &server.file("hello.yaml", HELLO));
    let ran = run(server.baton().args([
        "execution",
        "run",
        "tests.cli",
        "hello",
        "--input",
        "who=Baton",
        "--label",
        "team=data",
        "--wait",
    ]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let id = lines.first().copied().unwrap_or_default();
    assert_eq!(id.len(), 36, "the first line is the execution id: {ran:?}");
    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
    assert!(has("RUNNING  greet"), "{ran:?}");
    assert!(has("SUCCESS  greet"), "{ran:?}");
    assert!(has("SUCCESS  shell"), "{ran:?}");
    assert!(has("INFO  shell shell says hello Baton"), "{ran:?}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("execution {id} SUCCESS").as_str()),
        "{ran:?}"
    );
    assert!(
        !ran.stdout.contains('\x1b'),
        "no ANSI off a terminal: {ran:?}"
    );

    // Without --wait the command prints the id alone.
    let ran = run(server
        .baton()
        .args(["execution", "run", "tests.cli", "hello"]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout.trim().len(), 36, "{ran:?}");
}

#[test]
fn execution_run_wait_of_a_failing_flow_exits_1_then_logs_and_restart() {
    let server = Server::start("failing");
    deploy(&server, &server.file("failing.yaml", FAILING));
    let ran = run(server
        .baton()
        .args(["execution", "run", "tests.cli", "failing", "--wait"]));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stdout
            .contains("FAILED   boom: command failed with exit code 3"),
        "{ran:?}"
    );
    let id = ran.stdout.lines().next().unwrap_or_default().to_owned();
    assert!(
        ran.stdout.contains(&format!("execution {id} FAILED")),
        "{ran:?}"
    );

    let ran = run(server.baton().args(["execution", "logs", &id]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{ran:?}");
    assert!(
        lines[0].ends_with(" INFO  before before the failure"),
        "{ran:?}"
    );
    assert!(lines[1].ends_with(" ERROR boom about to fail"), "{ran:?}");

    // An ended execution cannot be killed: the server's message, exit 1.
    let ran = run(server.baton().args(["execution", "kill", &id]));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .contains("cannot be killed: it is already FAILED"),
        "{ran:?}"
    );

    // A restart runs the failed task again (it fails again) under the same id.
    let ran = run(server.baton().args(["execution", "restart", &id]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("restart requested"), "{ran:?}");
    // The restart is applied by the executor after the answer: read the logs until the
    // second attempt's line is there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ran = run(server.baton().args(["execution", "logs", &id]));
        assert_eq!(ran.code, Some(0), "{ran:?}");
        if ran.stdout.matches("about to fail").count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted attempt logs again: {ran:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn execution_kill_stops_a_sleeping_shell_task_and_the_waiting_run_ends_killed() {
    let server = Server::start("kill");
    deploy(&server, &server.file("sleeper.yaml", SLEEPER));
    let mut waiting = server
        .baton()
        .args(["execution", "run", "tests.cli", "sleeper", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton execution run --wait");
    // Read the waiting command's lines as they come: the id first, then progress.
    let (lines_tx, lines) = mpsc::channel();
    let stdout = waiting.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    let id = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the execution id");
    // Kill once the shell task runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the shell task starts");
        if line.contains("going to sleep") {
            break;
        }
    }
    let started = Instant::now();
    let ran = run(server.baton().args(["execution", "kill", &id]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("kill requested"), "{ran:?}");

    let ended = wait(&mut waiting, Duration::from_secs(20));
    let stdout = reader.join().expect("reader thread");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleep was stopped"
    );
    assert_eq!(ended.code, Some(1), "{ended:?}\n{stdout}");
    assert!(stdout.contains("KILLED   nap"), "{stdout}");
    assert!(
        stdout.contains(&format!("execution {id} KILLED")),
        "{stdout}"
    );
}

#[test]
fn client_commands_without_a_server_exit_2_with_a_hint() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let ran = run(baton(&url).args(["execution", "logs", "0193d1a2-0000-7000-8000-000000000000"]));
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert_eq!(
        ran.stderr,
        format!(
            "error: cannot reach Baton at {url}: is it running? (start it with: baton server local)\n"
        ),
        "{ran:?}"
    );
}

#[test]
fn execution_run_wait_exits_0_only_on_success_and_3_on_warning() {
    let server = Server::start("warning");
    deploy(&server, &server.file("allowed.yaml", ALLOWED_FAILURE));
    let ran = run(server
        .baton()
        .args(["execution", "run", "tests.cli", "allowed", "--wait"]));
    // A failure the flow allows ends WARNING: not the clean run a script checks for with 0,
    // and not a failure either.
    assert_eq!(ran.code, Some(3), "{ran:?}");
    let id = ran.stdout.lines().next().unwrap_or_default().to_owned();
    assert!(ran.stdout.contains("FAILED   shaky"), "{ran:?}");
    assert!(ran.stdout.contains("INFO  after went on"), "{ran:?}");
    assert!(
        ran.stdout.ends_with(&format!("execution {id} WARNING\n")),
        "{ran:?}"
    );
}

#[test]
fn every_client_command_takes_server_and_user_flags() {
    let server = Server::start_with("auth", &["--basic-auth", "ops:s3cret"]);
    let hello = server.file("hello.yaml", HELLO);
    // The flags, not the variables: `baton` here has neither BATON_SERVER nor BATON_USER.
    let client = |user: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .env_remove("BATON_SERVER")
            .env_remove("BATON_USER")
            .stdin(Stdio::null())
            .args(["--server", &server.url]);
        if let Some(user) = user {
            command.args(["--user", user]);
        }
        command
    };
    let refused = run(client(None).args(["flow", "deploy"]).arg(&hello));
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("(check --user or BATON_USER)"),
        "{refused:?}"
    );
    let wrong = run(client(Some("ops:nope")).args(["execution", "logs", "x"]));
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert!(wrong.stderr.contains("invalid credentials"), "{wrong:?}");

    let user = Some("ops:s3cret");
    let ran = run(client(user).args(["flow", "deploy"]).arg(&hello));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    // Global flags go anywhere on the line.
    let ran = run(client(None).args([
        "execution",
        "run",
        "tests.cli",
        "hello",
        "--wait",
        "--user",
        "ops:s3cret",
    ]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let id = ran.stdout.lines().next().unwrap_or_default().to_owned();
    let ran = run(client(user).args(["execution", "logs", &id]));
    assert!(ran.stdout.contains("shell says hello world"), "{ran:?}");
    let ran = run(client(user).args(["execution", "logs", "--follow", &id]));
    assert!(ran.stdout.contains("shell says hello world"), "{ran:?}");
    // Refusals from the server itself (exit 1, its message) show the credentials went through.
    for (command, message) in [
        ("kill", "cannot be killed: it is already SUCCESS"),
        ("resume", "cannot be resumed"),
        ("restart", "cannot restart it"),
    ] {
        let ran = run(client(user).args(["execution", command, &id]));
        assert_eq!(ran.code, Some(1), "{command}: {ran:?}");
        assert!(ran.stderr.contains(message), "{command}: {ran:?}");
    }
}
