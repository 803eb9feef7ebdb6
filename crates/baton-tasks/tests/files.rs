//! Script tasks with files, run for real (shell processes, a storage directory): `outputFiles`
//! uploaded, `inputFiles` downloaded from `kestra://` URIs, globs that match nothing, purge.

mod support;

use baton_storage::StorageUri;
use baton_tasks::TaskState;
use serde_json::json;
use support::{Harness, lines};

const FLOW: &str = r#"
id: files
namespace: company.team
tasks:
  - id: produce
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.csv"
      - "out/**"
    commands:
      - printf 'id,name\n1,ada\n' > data.csv
      - mkdir -p out/deep && echo nested > out/deep/n.txt
      - echo ignored > notes.txt
  - id: consume
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      in.csv: "{{ outputs.produce.outputFiles['data.csv'] }}"
      inline.txt: "written as text"
    commands:
      - cat in.csv inline.txt
  - id: nothing
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.parquet"
    commands:
      - echo no parquet here
  - id: foreign
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      stolen.txt: "kestra:///other/flow/executions/e/tasks/t/r/secret.txt"
    commands:
      - cat stolen.txt
  - id: purge
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
"#;

fn harness(with_storage: bool) -> Harness {
    Harness::new(FLOW, with_storage)
}

#[tokio::test]
async fn output_files_flow_into_the_next_tasks_input_files_and_a_purge_removes_them() {
    let mut harness = harness(true);
    let (produced, _) = harness.run("produce").await;
    assert_eq!(produced.state, TaskState::Success, "{produced:?}");
    let prefix = "kestra:///company/team/files/executions/exec1/tasks/produce/run-produce";
    assert_eq!(
        produced.outputs["outputFiles"],
        json!({
            "data.csv": format!("{prefix}/data.csv"),
            "out/deep/n.txt": format!("{prefix}/out/deep/n.txt"),
        })
    );
    assert_eq!(
        harness.stored_files(),
        [
            "company/team/files/executions/exec1/tasks/produce/run-produce/data.csv",
            "company/team/files/executions/exec1/tasks/produce/run-produce/out/deep/n.txt",
        ]
    );
    let storage = harness.storage.clone().unwrap();
    let data = StorageUri::parse(&format!("{prefix}/data.csv")).unwrap();
    assert_eq!(
        storage.read_text(&data, 100).await.unwrap(),
        "id,name\n1,ada\n"
    );

    let (consumed, logs) = harness.run("consume").await;
    assert_eq!(consumed.state, TaskState::Success, "{consumed:?}");
    assert_eq!(lines(&logs), ["id,name", "1,ada", "written as text"]);
    assert!(consumed.outputs.get("outputFiles").is_none());

    let (purged, _) = harness.run("purge").await;
    assert_eq!(purged.state, TaskState::Success, "{purged:?}");
    assert_eq!(
        purged.outputs["uris"],
        json!([
            format!("{prefix}/data.csv"),
            format!("{prefix}/out/deep/n.txt")
        ])
    );
    assert!(harness.stored_files().is_empty());
    // Reading a purged file now fails, naming it.
    let (after, _) = harness.run("consume").await;
    assert_eq!(after.state, TaskState::Failed);
    assert_eq!(
        after.error.unwrap(),
        format!("inputFiles: 'in.csv': file {prefix}/data.csv not found in internal storage")
    );
}

#[tokio::test]
async fn a_glob_that_matches_nothing_fails_the_task_naming_it() {
    let mut harness = harness(true);
    let (outcome, logs) = harness.run("nothing").await;
    assert_eq!(outcome.state, TaskState::Failed);
    let message = "outputFiles: no file in the working directory matches '*.parquet'";
    assert_eq!(outcome.error.as_deref(), Some(message));
    assert_eq!(lines(&logs), ["no parquet here", message]);
    // The command's own outputs are kept.
    assert_eq!(outcome.outputs["exitCode"], 0);
}

#[tokio::test]
async fn files_of_another_namespace_are_refused() {
    let mut harness = harness(true);
    let (outcome, _) = harness.run("foreign").await;
    assert_eq!(outcome.state, TaskState::Failed);
    assert_eq!(
        outcome.error.unwrap(),
        "inputFiles: 'stolen.txt': kestra:///other/flow/executions/e/tasks/t/r/secret.txt is not \
         a file of namespace company.team, so a flow of that namespace cannot read it"
    );
}

#[tokio::test]
async fn without_storage_file_features_fail_clearly_and_plain_tasks_run() {
    let mut harness = harness(false);
    let (outcome, _) = harness.run("produce").await;
    assert_eq!(outcome.state, TaskState::Failed);
    assert_eq!(
        outcome.error.unwrap(),
        "outputFiles: this worker has no internal storage (start it with --storage or \
         BATON_STORAGE)"
    );
    let (purged, _) = harness.run("purge").await;
    assert_eq!(purged.state, TaskState::Failed);
    assert!(purged.error.unwrap().contains("no internal storage"));
}
