//! The UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`, which
//! `./test.sh` installs), driven over WebDriver against a real `baton server local` process
//! with basic auth on — what a person does: log in, paste a flow with an error and fix it,
//! execute it with the generated form, watch it succeed with logs arriving live, kill a
//! running execution, restart a failed one.
//!
//! Screenshots of each page go to `docs/images/` when `UPDATE_SCREENSHOTS=1` (else to a
//! temporary folder), for `docs/ui.md`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use baton_tests::process::BatonProcess;
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

pub(crate) const USER: &str = "admin@kestra.io";
pub(crate) const PASSWORD: &str = "Admin1234!";
/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// `chromedriver` on a free port, stopped with the test.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver: install Debian's chromium and chromium-driver (./test.sh does)")?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .is_err()
        {
            if started.elapsed() > PATIENCE {
                bail!("chromedriver did not answer on {}", driver.url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Baton server, a browser on it, and the folder the test works in.
pub(crate) struct Session {
    pub(crate) driver: WebDriver,
    pub(crate) base: String,
    dir: PathBuf,
    _server: BatonProcess,
    _chromedriver: ChromeDriver,
}

impl Session {
    pub(crate) async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("baton-ui-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(dir.join("flows"))?;
        let data = dir.join(".baton");
        let flows = dir.join("flows");
        let server = BatonProcess::spawn(
            &[
                "server",
                "local",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
                "--flows-dir",
                flows.to_str().unwrap(),
            ],
            &[("BATON_BASIC_AUTH", &format!("{USER}:{PASSWORD}"))],
            true,
        )?;
        let base = server.url.clone().expect("server url");
        let chromedriver = ChromeDriver::start().await?;
        let mut caps = DesiredCapabilities::chrome();
        if std::path::Path::new("/usr/bin/chromium").exists() {
            caps.set_binary("/usr/bin/chromium")?;
        }
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ] {
            caps.add_arg(arg)?;
        }
        caps.add_arg(&format!("--user-data-dir={}", dir.join("chrome").display()))?;
        let driver = WebDriver::new(&chromedriver.url, caps).await?;
        driver.set_window_rect(0, 0, width, height).await?;
        Ok(Self {
            driver,
            base,
            dir,
            _server: server,
            _chromedriver: chromedriver,
        })
    }

    pub(crate) async fn open(&self, path: &str) -> anyhow::Result<()> {
        self.driver.goto(format!("{}{path}", self.base)).await?;
        Ok(())
    }

    /// Logs in through the form with the keyboard only (the user name field has the focus,
    /// Tab moves to the password, Enter submits), then checks that Tab from the top of a page
    /// reaches the skip link first.
    pub(crate) async fn log_in(&self) -> anyhow::Result<()> {
        self.open("/ui/flows").await?;
        self.wait_for_css("#username").await?;
        assert!(
            self.driver
                .current_url()
                .await?
                .path()
                .ends_with("/ui/login"),
            "a page without a session goes to the login page"
        );
        self.driver
            .action_chain()
            .send_keys(USER)
            .send_keys(Key::Tab)
            .send_keys(PASSWORD)
            .send_keys(Key::Enter)
            .perform()
            .await?;
        self.wait_for_css("#flows, .empty").await?;
        self.driver
            .action_chain()
            .send_keys(Key::Tab)
            .perform()
            .await?;
        let focused = self.driver.active_element().await?;
        assert_eq!(focused.attr("class").await?.as_deref(), Some("skip"));
        Ok(())
    }

    /// Polls for an element matching `css` that `accept`s it.
    pub(crate) async fn wait_until(
        &self,
        css: &str,
        what: &str,
        accept: impl AsyncFn(&WebElement) -> anyhow::Result<bool>,
    ) -> anyhow::Result<WebElement> {
        let started = Instant::now();
        loop {
            for element in self.driver.find_all(By::Css(css)).await? {
                if accept(&element).await.unwrap_or(false) {
                    return Ok(element);
                }
            }
            if started.elapsed() > PATIENCE {
                let source = self.driver.source().await.unwrap_or_default();
                bail!("waited {PATIENCE:?} for {css} {what}; the page is:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait_for_css(&self, css: &str) -> anyhow::Result<WebElement> {
        self.wait_until(css, "to appear", async |_| Ok(true)).await
    }

    pub(crate) async fn wait_for_text(&self, css: &str, text: &str) -> anyhow::Result<WebElement> {
        self.wait_until(css, &format!("to read {text:?}"), async |e| {
            Ok(e.text().await? == text)
        })
        .await
    }

    /// The execution's state as its page shows it. Read in one script call: the live part is
    /// replaced while the execution runs, so a found element may be gone a moment later.
    pub(crate) async fn state(&self) -> anyhow::Result<String> {
        let state = self
            .driver
            .execute(
                "return document.querySelector('[data-execution-state]').textContent;",
                Vec::new(),
            )
            .await?;
        Ok(state.json().as_str().unwrap_or_default().to_owned())
    }

    /// Pastes `source` into the flow editor (replacing what is there) and saves.
    pub(crate) async fn save_source(&self, source: &str) -> anyhow::Result<()> {
        let editor = self.wait_for_css("textarea#source").await?;
        editor.clear().await?;
        // Typed as a paste would leave it: the editor must not re-indent anything.
        self.driver
            .execute(
                "const t = arguments[0]; t.value = arguments[1]; t.dispatchEvent(new Event('input'));",
                vec![editor.to_json()?, serde_json::Value::String(source.to_owned())],
            )
            .await?;
        self.driver
            .find(By::Css(".editor-form button[type=submit]"))
            .await?
            .click()
            .await?;
        Ok(())
    }

    pub(crate) async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/images")
        } else {
            self.dir.join("screenshots")
        };
        std::fs::create_dir_all(&dir)?;
        self.driver
            .screenshot(&dir.join(format!("{name}.png")))
            .await?;
        Ok(())
    }

    pub(crate) async fn quit(self) -> anyhow::Result<()> {
        self.driver.quit().await?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

/// The flow pasted first: one task has a misspelt type.
const BROKEN_FLOW: &str = r#"id: report
namespace: company.team
inputs:
  - id: region
    type: SELECT
    displayName: Region
    values: [eu-west, us-east, ap-south]
    defaults: eu-west
  - id: tags
    type: ARRAY
    itemType: STRING
    required: false
  - id: dry_run
    type: BOOLEAN
    defaults: false
  - id: report
    type: FILE
    required: false
  - id: owner
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Lgo
    message: "region {{ inputs.region }} tags {{ inputs.tags }} dry run {{ inputs.dry_run }}"
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - summary.txt
    commands:
      - for i in 1 2 3 4 5; do echo "step $i"; sleep 0.4; done
      - printf 'region=%s\nsteps=5\n' '{{ inputs.region }}' > summary.txt
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.tags | length }} tags"
  - id: report_size
    type: io.kestra.plugin.core.log.Log
    runIf: "{{ inputs.report != null }}"
    message: "report of {{ inputs.owner }}: {{ read(inputs.report) | length }} bytes"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_fixes_a_flow_executes_it_with_the_form_and_watches_it_live() -> anyhow::Result<()>
{
    let session = Session::start(1280, 900).await?;
    session.log_in().await?;
    session.screenshot("flows-empty").await?;

    // Paste a flow with an error: it is refused, the error is shown at its line, the text
    // stays as typed.
    session.open("/ui/flows/new").await?;
    session.save_source(BROKEN_FLOW).await?;
    let link = session
        .wait_for_css(".diagnostics li.error a[data-line]")
        .await?;
    let line = link.attr("data-line").await?.unwrap_or_default();
    let expected_line = BROKEN_FLOW
        .lines()
        .position(|l| l.contains("log.Lgo"))
        .map(|i| (i + 1).to_string())
        .unwrap();
    assert_eq!(line, expected_line);
    let item = session
        .driver
        .find(By::Css(".diagnostics li.error"))
        .await?;
    assert!(
        item.text()
            .await?
            .contains("unknown task type 'io.kestra.plugin.core.log.Lgo'")
    );
    let flagged = session.driver.find(By::Css(".gutter .err")).await?;
    assert_eq!(
        flagged.text().await?,
        expected_line,
        "the gutter marks the line"
    );
    let kept = session
        .driver
        .find(By::Id("source"))
        .await?
        .prop("value")
        .await?;
    assert_eq!(kept.as_deref(), Some(BROKEN_FLOW));
    // Clicking the position puts the caret on that line.
    link.click().await?;
    let caret = session
        .driver
        .execute(
            "const t = document.getElementById('source'); return t.value.slice(0, t.selectionStart).split('\\n').length;",
            Vec::new(),
        )
        .await?;
    assert_eq!(caret.json().to_string(), expected_line);
    session.screenshot("editor-error").await?;

    // Fix and save: the flow's page shows it.
    session
        .save_source(&BROKEN_FLOW.replace("log.Lgo", "log.Log"))
        .await?;
    session.wait_for_css("table.code").await?;
    assert!(
        session
            .driver
            .current_url()
            .await?
            .path()
            .ends_with("/ui/flows/company.team/report")
    );
    session
        .wait_for_css("svg.topology [data-task=work]")
        .await?;
    session.screenshot("flow").await?;

    // Execute with the generated form.
    session
        .open("/ui/flows/company.team/report/execute")
        .await?;
    let region = session.wait_for_css("#field-region").await?;
    SelectElement::new(&region)
        .await?
        .select_by_value("us-east")
        .await?;
    session
        .driver
        .find(By::Css("[data-add-item]"))
        .await?
        .click()
        .await?;
    let items = session
        .driver
        .find_all(By::Css("#field-tags input"))
        .await?;
    assert_eq!(items.len(), 2, "Add item adds a field");
    items[0].send_keys("alpha").await?;
    items[1].send_keys("beta").await?;
    session
        .driver
        .find(By::Id("field-dry-run"))
        .await?
        .click()
        .await?;
    let upload = session.dir.join("numbers.csv");
    std::fs::write(&upload, "a,b\n1,2\n")?;
    session
        .driver
        .find(By::Id("field-report"))
        .await?
        .send_keys(upload.to_str().unwrap())
        .await?;
    session.screenshot("execute-form").await?;
    session
        .driver
        .find(By::Css(".execute-form button[type=submit]"))
        .await?
        .click()
        .await?;
    // The required owner was left empty: the error shows beside it, the rest is kept.
    let error = session.wait_for_css("#field-owner-error").await?;
    assert!(
        error.text().await?.contains("missing"),
        "{}",
        error.text().await?
    );
    let kept = session
        .driver
        .find(By::Css("#field-region option:checked"))
        .await?;
    assert_eq!(kept.text().await?, "us-east");
    assert!(
        session
            .driver
            .find(By::Id("field-dry-run"))
            .await?
            .is_selected()
            .await?
    );
    session.screenshot("execute-form-error").await?;
    session
        .driver
        .find(By::Id("field-owner"))
        .await?
        .send_keys("ana")
        .await?;
    // A page cannot set a file field: the file is chosen again.
    session
        .driver
        .find(By::Id("field-report"))
        .await?
        .send_keys(upload.to_str().unwrap())
        .await?;
    session
        .driver
        .find(By::Css(".execute-form button[type=submit]"))
        .await?
        .click()
        .await?;

    // The execution page: logs arrive while it runs, then it succeeds.
    session.wait_for_css("[data-execution-state]").await?;
    let mut lines_while_running = 0;
    let mut shot_while_running = false;
    let started = Instant::now();
    loop {
        let state = session.state().await?;
        let lines = session.driver.find_all(By::Css(".logs .line")).await?.len();
        if state == "RUNNING" {
            lines_while_running = lines_while_running.max(lines);
        }
        if state == "SUCCESS" {
            break;
        }
        if lines_while_running > 2 && !shot_while_running {
            session.screenshot("execution-running").await?;
            shot_while_running = true;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still {state} after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        lines_while_running > 0,
        "log lines were shown while the execution ran"
    );
    session
        .wait_for_text(".logs .line:last-child .msg", "report of ana: 8 bytes")
        .await?;
    let first = session
        .driver
        .find(By::Css(".logs .line .msg"))
        .await?
        .text()
        .await?;
    assert!(
        first.starts_with("region us-east tags ")
            && first.contains("alpha")
            && first.contains("beta")
            && first.ends_with("dry run true"),
        "{first}"
    );
    session
        .wait_for_css("svg.topology .node.st-success[data-task=answer]")
        .await?;
    session.wait_for_css(".gantt-bar.st-success").await?;
    let outputs = session
        .driver
        .find(By::Css("[data-outputs=answer]"))
        .await?
        .text()
        .await?;
    assert!(outputs.contains("2 tags"), "{outputs}");
    // Open the output file: its link names it and its size, and what it serves (with the
    // browser's login) is what the task wrote.
    let file = session
        .driver
        .find(By::Css("[data-outputs=work] a.file"))
        .await?;
    assert_eq!(file.text().await?, "summary.txt");
    let size = session
        .driver
        .find(By::Css("[data-outputs=work] .file-size"))
        .await?;
    assert_eq!(size.text().await?, "23 B");
    let href = file
        .attr("href")
        .await?
        .context("the file link has an href")?;
    let served = session
        .driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));",
            vec![serde_json::Value::String(href)],
        )
        .await?;
    assert_eq!(
        served.json(),
        &serde_json::json!([200, "region=us-east\nsteps=5\n"])
    );
    // The whole page: timeline, graph, outputs and logs.
    session.driver.set_window_rect(0, 0, 1280, 2200).await?;
    session.screenshot("execution").await?;
    session.driver.set_window_rect(0, 0, 1280, 900).await?;

    // Filtering the logs by level hides INFO lines.
    let level = session.driver.find(By::Css("[data-log-level]")).await?;
    SelectElement::new(&level)
        .await?
        .select_by_value("WARN")
        .await?;
    session
        .wait_for_text("[data-logs-empty]", "No log line yet.")
        .await?;

    session.open("/ui/executions").await?;
    session
        .wait_for_css("tbody[data-rows] .badge.st-success")
        .await?;
    session.screenshot("executions").await?;
    session.open("/ui/flows").await?;
    session.wait_for_css("#flows .badge.st-success").await?;
    session.screenshot("flows").await?;

    // The namespace's KV store: a key added through the form is listed.
    session.open("/ui/namespaces/company.team").await?;
    session
        .wait_for_css("#kv-key")
        .await?
        .send_keys("threshold")
        .await?;
    session
        .driver
        .find(By::Id("kv-value"))
        .await?
        .send_keys(r#"{"max": 10}"#)
        .await?;
    session
        .driver
        .find(By::Css(".kv-form button[type=submit]"))
        .await?
        .click()
        .await?;
    session.wait_for_text("#kv td.mono", "threshold").await?;
    session.screenshot("kv").await?;
    session.quit().await
}

const SLOW_FLOW: &str = "id: slow\nnamespace: company.team\ntasks:\n  - id: wait\n    type: io.kestra.plugin.scripts.shell.Commands\n    taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n    commands:\n      - echo started\n      - sleep 60\n";

/// Fails the first time (no marker file yet), succeeds once restarted.
fn flaky_flow(marker: &std::path::Path) -> String {
    format!(
        "id: flaky\nnamespace: company.team\ntasks:\n  - id: once\n    type: io.kestra.plugin.scripts.shell.Commands\n    taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n    commands:\n      - if [ -f {m} ]; then echo second try; else touch {m}; echo first try fails; exit 1; fi\n",
        m = marker.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_a_running_execution_and_restart_a_failed_one_from_their_pages() -> anyhow::Result<()>
{
    let session = Session::start(1280, 900).await?;
    session.log_in().await?;
    for source in [
        SLOW_FLOW.to_owned(),
        flaky_flow(&session.dir.join("marker")),
    ] {
        session.open("/ui/flows/new").await?;
        session.save_source(&source).await?;
        session.wait_for_css("table.code").await?;
    }

    session.open("/ui/flows/company.team/slow/execute").await?;
    session
        .wait_for_css(".execute-form button[type=submit]")
        .await?
        .click()
        .await?;
    session.wait_for_text(".logs .line .msg", "started").await?;
    assert_eq!(session.state().await?, "RUNNING");
    let kill = session.driver.find(By::Css("[data-action=kill]")).await?;
    assert!(kill.is_displayed().await?);
    kill.click().await?;
    session
        .wait_for_text("[data-execution-state]", "KILLED")
        .await?;
    let kill = session.driver.find(By::Css("[data-action=kill]")).await?;
    assert!(
        !kill.is_displayed().await?,
        "{:?} {:?}",
        kill.outer_html().await?,
        session
            .driver
            .find(By::Css(".facts"))
            .await?
            .outer_html()
            .await?
    );
    session.screenshot("execution-killed").await?;

    session.open("/ui/flows/company.team/flaky/execute").await?;
    session
        .wait_for_css(".execute-form button[type=submit]")
        .await?
        .click()
        .await?;
    session
        .wait_for_text("[data-execution-state]", "FAILED")
        .await?;
    session
        .wait_for_text(".logs .line .msg", "first try fails")
        .await?;
    let execution_url = session.driver.current_url().await?;
    let restart = session
        .driver
        .find(By::Css("[data-action=restart]"))
        .await?;
    assert!(restart.is_displayed().await?);
    restart.click().await?;
    session
        .wait_for_text("[data-execution-state]", "SUCCESS")
        .await?;
    assert_eq!(
        session.driver.current_url().await?,
        execution_url,
        "the same execution"
    );
    session
        .wait_for_text(".logs .line .msg", "second try")
        .await?;
    session.quit().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fit_a_phone_screen() -> anyhow::Result<()> {
    let session = Session::start(390, 844).await?;
    session.open("/ui/login").await?;
    session.wait_for_css("#username").await?;
    session.screenshot("login-phone").await?;
    session.log_in().await?;
    session.open("/ui/flows/new").await?;
    session
        .save_source(&BROKEN_FLOW.replace("log.Lgo", "log.Log"))
        .await?;
    session.wait_for_css("table.code").await?;
    session
        .open("/ui/flows/company.team/report/execute")
        .await?;
    session.wait_for_css("#field-region").await?;
    let overflow = session
        .driver
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            Vec::new(),
        )
        .await?;
    assert_eq!(
        overflow.json().as_i64(),
        Some(0),
        "no sideways scrolling at 390 px"
    );
    session.screenshot("execute-form-phone").await?;
    session.open("/ui/flows").await?;
    session.wait_for_css("#flows").await?;
    session.screenshot("flows-phone").await?;
    session.quit().await
}
