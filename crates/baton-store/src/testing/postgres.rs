//! One throwaway Postgres server per test binary, a fresh database per test.
//!
//! nextest runs every test in its own process, so "one server per binary" is shared across
//! processes through a directory keyed by the test binary's path:
//!
//! - Each test process holds a *shared* `flock` on `users.lock` for its whole life.
//! - The first process to find no running server (under the exclusive `control.lock`) runs
//!   `initdb` and `pg_ctl start` (as the `postgres` OS user through `runuser` when we are root,
//!   because `initdb` refuses root), listening only on a Unix socket inside the directory, so no
//!   TCP port can clash, with `fsync=off`. The `postgres` role is trusted; other roles need
//!   their password.
//! - It also starts a detached watchdog (`setsid sh`): it waits for an *exclusive* lock on
//!   `users.lock`, which it gets only once no test process is alive — exited or crashed, the
//!   kernel drops a dead process's locks — waits a 2 s grace period for the next test process,
//!   then stops the server (`-m immediate`) and deletes its files. So a crashed run never leaves
//!   a server running, and there is no clean-up code that a panic could skip.
//!
//! Missing binaries fail the test with a message pointing at `./test.sh`; nothing is skipped.

use std::fs::{self, File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

const PORT: u16 = 5432;

pub struct PgServer {
    /// Socket directory (also the cluster's home).
    dir: PathBuf,
    /// The Postgres binaries (`pg_ctl`), for [`PgServer::crash_and_restart`].
    bin: PathBuf,
    /// How it was started, so a restart starts it the same way.
    durability: Durability,
    /// Held (shared) until the process exits; tells the watchdog the server is in use.
    _users: File,
}

static SERVER: OnceLock<PgServer> = OnceLock::new();
static DURABLE_SERVER: OnceLock<PgServer> = OnceLock::new();

/// Whether commits reach the disk before they return.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `fsync=off`, `synchronous_commit=off`: tests need no crash safety and run faster.
    Off,
    /// Postgres' own defaults: what a deployment runs, so benchmarks pay for every commit.
    Full,
}

impl PgServer {
    pub fn get() -> &'static PgServer {
        SERVER.get_or_init(|| {
            start(Durability::Off).unwrap_or_else(|e| panic!("cannot start test Postgres: {e}"))
        })
    }

    /// A server with Postgres' default durability (`fsync`, `synchronous_commit` and
    /// `full_page_writes` on), for benchmarks: a commit costs what it costs in production.
    pub fn durable() -> &'static PgServer {
        DURABLE_SERVER.get_or_init(|| {
            start(Durability::Full)
                .unwrap_or_else(|e| panic!("cannot start a durable Postgres: {e}"))
        })
    }

    pub fn options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .port(PORT)
            .username("postgres")
            .database(database)
    }

    /// Creates an empty database and returns how to reach it.
    pub async fn fresh_database(&self) -> PgConnectOptions {
        let name = self.create_database().await;
        self.options(&name)
    }

    /// Creates an empty database and returns its URL, for `baton` processes started by tests
    /// (`?host=` names the socket directory).
    pub async fn fresh_database_url(&self) -> String {
        let name = self.create_database().await;
        format!(
            "postgres://postgres@localhost:{PORT}/{name}?host={}",
            self.dir.display()
        )
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, every client
    /// connection cut, as when the machine or the process dies), keeps it down for `down`, then
    /// starts it again on the same data directory, which replays its WAL.
    ///
    /// Every test process of this binary shares the server, so a test that calls this must be
    /// the only test in its binary.
    pub async fn crash_and_restart(&self, down: std::time::Duration) {
        let data = self.dir.join("data");
        let mut stop = pg_command(&self.bin.join("pg_ctl"));
        stop.arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate"]);
        run(stop, "pg_ctl stop").expect("crash the test Postgres");
        tokio::time::sleep(down).await;
        start_server(&self.bin, &self.dir, self.durability).expect("restart the test Postgres");
    }

    async fn create_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect_with(&self.options("postgres"))
            .await
            .expect("connect to the test Postgres");
        // A name we generated, not user input: safe to put in the statement text.
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create a test database");
        conn.close().await.ok();
        name
    }
}

fn bin_dir() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort_by_key(|bin| {
        let version = bin
            .parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str());
        version.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    found.pop().ok_or_else(|| {
        "no Postgres server binaries: /usr/lib/postgresql/*/bin/initdb is missing. \
         Run ./test.sh, which installs the postgresql package, or apt-get install postgresql"
            .to_owned()
    })
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A command run as the `postgres` OS user when we are root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn lock_file(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))
}

fn start(durability: Durability) -> Result<PgServer, String> {
    let bin = bin_dir()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut hasher = DefaultHasher::new();
    exe.hash(&mut hasher);
    let suffix = match durability {
        Durability::Off => "",
        Durability::Full => "-durable",
    };
    let dir = std::env::temp_dir().join(format!("baton-store-pg-{:016x}{suffix}", hasher.finish()));
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    // The postgres user writes its data directory and socket here.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;

    let users = lock_file(&dir.join("users.lock"))?;
    users
        .lock_shared()
        .map_err(|e| format!("lock users.lock: {e}"))?;
    let control = lock_file(&dir.join("control.lock"))?;
    control
        .lock()
        .map_err(|e| format!("lock control.lock: {e}"))?;

    let data = dir.join("data");
    let mut status = pg_command(&bin.join("pg_ctl"));
    status
        .arg("status")
        .arg("-D")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let running = data.exists() && status.status().is_ok_and(|s| s.success());
    if !running {
        if data.exists() {
            fs::remove_dir_all(&data)
                .map_err(|e| format!("remove stale {}: {e}", data.display()))?;
        }
        let mut initdb = pg_command(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        run(initdb, "initdb")?;
        // The superuser the tests connect as is trusted; any other role logs in with its
        // password, so tests of the user-database tasks can check a wrong one.
        let hba = data.join("pg_hba.conf");
        fs::write(
            &hba,
            "local all postgres trust\nlocal all all scram-sha-256\n",
        )
        .map_err(|e| format!("write {}: {e}", hba.display()))?;
        start_server(&bin, &dir, durability)?;
        spawn_watchdog(&bin, &dir)?;
    }
    drop(control);
    Ok(PgServer {
        dir,
        bin,
        durability,
        _users: users,
    })
}

fn start_server(bin: &Path, dir: &Path, durability: Durability) -> Result<(), String> {
    let data = dir.join("data");
    let mut pg_ctl = pg_command(&bin.join("pg_ctl"));
    pg_ctl
        .arg("start")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("postgres.log"))
        .arg("-w")
        .arg("-o")
        .arg(format!(
            "-k {} -p {PORT} -c listen_addresses='' -c max_connections=300{} {}",
            dir.display(),
            match durability {
                Durability::Off =>
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                Durability::Full => "",
            },
            // For a look inside, e.g. `-c log_min_duration_statement=0` (the log is
            // postgres.log in the server's directory).
            std::env::var("BATON_TEST_PG_OPTIONS").unwrap_or_default()
        ));
    run(pg_ctl, "pg_ctl start")
}

/// Stops the server once no test process holds `users.lock` (see the module docs).
fn spawn_watchdog(bin: &Path, dir: &Path) -> Result<(), String> {
    let as_postgres = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let script = format!(
        r#"cd /
users="$1"; data="$2"; dir="$3"
while :; do
  flock -x "$users" true
  sleep 2
  if flock -xn "$users" sh -c '{as_postgres}"$0" stop -D "$1" -m immediate >/dev/null 2>&1; rm -rf "$1"' "$4" "$data"; then
    exit 0
  fi
done"#
    );
    Command::new("setsid")
        .args(["sh", "-c", &script, "watchdog"])
        .arg(dir.join("users.lock"))
        .arg(dir.join("data"))
        .arg(dir)
        .arg(bin.join("pg_ctl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start the watchdog: {e}"))?;
    Ok(())
}
