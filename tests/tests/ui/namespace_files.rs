//! Namespace files in a real Chromium: a person writes a script on the namespace's Files page,
//! then runs a flow whose shell task gets it with `namespaceFiles` and sees its output; the
//! page also fits a phone screen.

use thirtyfour::prelude::*;

use crate::browser::Session;

const FLOW: &str = "id: greet\nnamespace: company.team\ntasks:\n  - id: greet\n    type: io.kestra.plugin.scripts.shell.Commands\n    taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n    namespaceFiles:\n      enabled: true\n    commands:\n      - sh scripts/greet.sh ui\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_writes_a_namespace_file_and_a_flow_runs_it() -> anyhow::Result<()> {
    let session = Session::start(1280, 900).await?;
    session.log_in().await?;

    session.open("/ui/namespaces/company.team/files").await?;
    let path = session.wait_for_css("#ns-path").await?;
    path.clear().await?;
    path.send_keys("/scripts/greet.sh").await?;
    session
        .driver
        .find(By::Id("ns-content"))
        .await?
        .send_keys("echo \"hello from $1\"")
        .await?;
    session
        .driver
        .find(By::Css(".file-form button[type=submit]"))
        .await?
        .click()
        .await?;
    // Saved: the file is open in the editor, listed in its folder.
    session
        .wait_for_text("#ns-files td.mono a", "greet.sh")
        .await?;
    session
        .wait_for_text("#file-form-title", "/scripts/greet.sh")
        .await?;
    session.screenshot("namespace-files").await?;

    session.open("/ui/flows/new").await?;
    session.save_source(FLOW).await?;
    session.wait_for_css("table.code").await?;
    session.open("/ui/flows/company.team/greet/execute").await?;
    session
        .wait_for_css(".execute-form button[type=submit]")
        .await?
        .click()
        .await?;
    session
        .wait_for_text(".logs .line .msg", "hello from ui")
        .await?;
    session
        .wait_for_text("[data-execution-state]", "SUCCESS")
        .await?;

    // At 390 px the page scrolls only downwards.
    session.driver.set_window_rect(0, 0, 390, 844).await?;
    session
        .open("/ui/namespaces/company.team/files?path=/scripts")
        .await?;
    session.wait_for_css("#ns-files").await?;
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
    session.screenshot("namespace-files-phone").await?;
    session.quit().await
}
