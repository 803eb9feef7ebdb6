//! Child processes the bench starts (baton roles, the Temporal dev server): stderr kept in a
//! log file and in memory so the bench can wait for a line, killed and reaped however the bench
//! ends.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Process {
    pub name: String,
    child: Child,
    /// Every stderr line so far.
    lines: Arc<Mutex<Vec<String>>>,
    log: PathBuf,
}

impl Process {
    /// Starts `program args` with `envs` added to the environment; stdout and stderr go to
    /// `<log_dir>/<name>.log`, stderr is also kept for [`Process::wait_for_line`].
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        log_dir: &Path,
    ) -> anyhow::Result<Process> {
        let log = log_dir.join(format!("{name}.log"));
        let mut file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stderr = child.stderr.take().context("piped stderr")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Ok(Process {
            name: name.to_owned(),
            child,
            lines,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `count` stderr lines contain `needle`; returns the last such line.
    pub fn wait_for_line(
        &mut self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
                if found.len() >= count {
                    return Ok(found[count - 1].clone());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before printing {needle:?}; see {}",
                    self.name,
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}; see {}",
                    self.name,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address a baton server role listens on, from its "baton is listening on" line.
    pub fn wait_for_url(&mut self) -> anyhow::Result<String> {
        const PREFIX: &str = "baton is listening on ";
        let line = self.wait_for_line(PREFIX, 1, Duration::from_secs(60))?;
        Ok(line[line.find(PREFIX).unwrap_or(0) + PREFIX.len()..]
            .trim()
            .to_owned())
    }

    /// Resident memory in bytes (`VmRSS` of /proc/PID/status).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line")?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("empty VmRSS line")?
            .parse()?;
        Ok(kib * 1024)
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); see {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
