//! The namespace KV store and secrets end to end: `kv.*` tasks and `kv()` on workers reach the
//! store through the executor's gRPC stream; `secret()` values are masked in logs and outputs.

use baton_core::execution::{Execution, State};
use baton_tests::TestCluster;
use serde_json::json;

const KV: &str = r#"
id: kv
namespace: company.team
tasks:
  - id: set_text
    type: io.kestra.plugin.core.kv.Set
    key: greeting
    value: hello
  - id: set_number
    type: io.kestra.plugin.core.kv.Set
    key: rows
    value: "{{ 40 + 2 }}"
    kvType: NUMBER
    ttl: PT1H
  - id: set_json
    type: io.kestra.plugin.core.kv.Set
    namespace: company
    key: config
    value: '{"regions": ["eu", "us"]}'
    kvType: JSON
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: rows
  - id: read
    type: io.kestra.plugin.core.debug.Return
    # `config` lives in the parent namespace: kv() looks there too.
    format: "{{ kv('greeting') }} {{ kv('rows') + 1 }} {{ kv('config').regions[1] }}"
  - id: delete
    type: io.kestra.plugin.core.kv.Delete
    key: greeting
  - id: get_deleted
    type: io.kestra.plugin.core.kv.Get
    key: greeting
  - id: missing_in_template
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('greeting', errorOnMissing=false) ?? 'gone' }}"
"#;

const KV_ERRORS: &str = r#"
id: kv_errors
namespace: company.team
tasks:
  - id: keep
    type: io.kestra.plugin.core.kv.Set
    key: kept
    value: first
  - id: no_overwrite
    type: io.kestra.plugin.core.kv.Set
    key: kept
    value: second
    overwrite: false
    allowFailure: true
  - id: strict_get
    type: io.kestra.plugin.core.kv.Get
    key: nothing
    errorOnMissing: true
    allowFailure: true
  - id: strict_template
    type: io.kestra.plugin.core.log.Log
    message: "{{ kv('nothing') }}"
    allowFailure: true
"#;

const SECRETS: &str = r#"
id: secrets
namespace: company.team
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "the token is {{ secret('API_TOKEN') }}"
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "Bearer {{ secret('API_TOKEN') }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    env:
      TOKEN: "{{ secret('API_TOKEN') }}"
    commands:
      - echo "shell sees $TOKEN"
"#;

fn task_run<'a>(execution: &'a Execution, id: &str) -> &'a baton_core::execution::TaskRun {
    execution
        .task_runs
        .iter()
        .find(|r| r.task_id == id)
        .unwrap_or_else(|| panic!("no task run {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_tasks_and_the_kv_function_share_the_namespace_store() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(KV).await?;
    let id = cluster.execute("company.team", "kv", &[]).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Success, "{execution:?}");
    assert_eq!(task_run(&execution, "get").outputs["value"], json!(42));
    assert_eq!(task_run(&execution, "read").outputs["value"], "hello 43 us");
    assert_eq!(task_run(&execution, "delete").outputs["deleted"], true);
    assert_eq!(
        task_run(&execution, "get_deleted").outputs["value"],
        json!(null)
    );
    assert_eq!(
        task_run(&execution, "missing_in_template").outputs["value"],
        "gone"
    );

    let rows = cluster.store.kv_get("company.team", "rows").await?.unwrap();
    assert_eq!(rows.value, json!(42));
    assert!(rows.expires_at.is_some(), "the ttl was kept");
    let config = cluster.store.kv_get("company", "config").await?.unwrap();
    assert_eq!(config.value, json!({"regions": ["eu", "us"]}));
    assert!(
        cluster
            .store
            .kv_get("company.team", "greeting")
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_refusals_fail_the_task_with_kestras_messages() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(KV_ERRORS).await?;
    let id = cluster.execute("company.team", "kv_errors", &[]).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    let error = |task: &str| task_run(&execution, task).error.clone().unwrap_or_default();
    assert_eq!(
        error("no_overwrite"),
        "Cannot set value for key 'kept'. Key already exists and `overwrite` is set to `false`."
    );
    assert_eq!(
        error("strict_get"),
        "No value found for key 'nothing' in namespace 'company.team' and `errorOnMissing` is \
         set to true"
    );
    assert!(
        error("strict_template")
            .contains("The key 'nothing' does not exist in the namespace 'company.team'."),
        "{}",
        error("strict_template")
    );
    let kept = cluster.store.kv_get("company.team", "kept").await?.unwrap();
    assert_eq!(kept.value, json!("first"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_are_masked_in_logs_and_outputs() -> anyhow::Result<()> {
    // base64("tok-123-secret")
    let cluster = TestCluster::builder()
        .secret("API_TOKEN", "dG9rLTEyMy1zZWNyZXQ=")
        .start()
        .await?;
    cluster.deploy(SECRETS).await?;
    let id = cluster.execute("company.team", "secrets", &[]).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Success, "{execution:?}");
    assert_eq!(
        task_run(&execution, "out").outputs["value"],
        "Bearer ******"
    );
    let logs: Vec<String> = cluster
        .logs(&id)
        .await?
        .into_iter()
        .map(|l| l.entry.message)
        .collect();
    assert!(logs.contains(&"the token is ******".to_owned()), "{logs:?}");
    assert!(logs.contains(&"shell sees ******".to_owned()), "{logs:?}");
    let document = serde_json::to_string(&execution)?;
    assert!(!document.contains("tok-123"), "{document}");
    assert!(logs.iter().all(|l| !l.contains("tok-123")), "{logs:?}");
    Ok(())
}
