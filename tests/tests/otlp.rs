//! Traces exported over OTLP/gRPC by real `baton` processes to a collector the test runs (the
//! OTLP trace service on a loopback socket): one execution yields one trace — its root span
//! from the executor, the executor's steps, and the attempts of two different workers under
//! it; with a Docker engine, the container's spans under the attempt that ran it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::Value;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

const FLOW: &str = r#"
id: traced
namespace: tests.otlp
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - sleep 1
      - id: right
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - sleep 1
"#;

/// With a Docker engine: one more task, in a container.
const CONTAINER_TASK: &str = r#"
  - id: boxed
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: debian:bookworm-slim
    commands:
      - echo in a container
"#;

/// One exported span, flattened with its resource's service.
#[derive(Clone, Debug)]
struct Exported {
    service: String,
    instance: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Exported>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        for resource_spans in request.into_inner().resource_spans {
            let attribute = |key: &str| {
                resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == key))
                    .and_then(|kv| kv.value.as_ref()?.value.clone())
                    .map(|value| match value {
                        AnyValue::StringValue(text) => text,
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default()
            };
            let (service, instance) = (attribute("service.name"), attribute("service.instance.id"));
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    spans.push(Exported {
                        service: service.clone(),
                        instance: instance.clone(),
                        name: span.name.clone(),
                        trace_id: span.trace_id.clone(),
                        span_id: span.span_id.clone(),
                        parent_span_id: span.parent_span_id.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn uuid_bytes(id: &str) -> Vec<u8> {
    uuid::Uuid::parse_str(id)
        .expect("a uuid")
        .as_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_execution_is_one_trace_across_the_executor_and_two_workers() -> anyhow::Result<()> {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let docker = baton_tests::compose::unavailable().is_none();

    let database_url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // Export every 100 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut envs: Vec<(&str, &str)> = otel.to_vec();
        envs.extend_from_slice(extra);
        envs
    };
    let executor = BatonProcess::spawn(
        &["server", "executor", "--listen", "127.0.0.1:0"],
        &[
            with(&[("BATON_WORKER_TOKEN", TOKEN)]),
            vec![("BATON_DATABASE_URL", database_url.as_str())],
        ]
        .concat(),
        true,
    )?;
    let executor_url = executor.url.clone().expect("executor url");
    let web = BatonProcess::spawn(
        &["server", "webserver", "--listen", "127.0.0.1:0"],
        &[("BATON_DATABASE_URL", database_url.as_str())],
        true,
    )?;
    // One slot each, so the two parallel tasks must go to different workers.
    let workers = ["one", "two"]
        .map(|id| {
            BatonProcess::spawn(
                &[
                    "server",
                    "worker",
                    "--executor",
                    &executor_url,
                    "--slots",
                    "1",
                    "--worker-id",
                    id,
                ],
                &with(&[("BATON_WORKER_TOKEN", TOKEN)]),
                false,
            )
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;

    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", web.url.clone().expect("webserver url"));
    let flow = if docker {
        format!("{FLOW}{CONTAINER_TASK}")
    } else {
        eprintln!("no Docker engine: the container spans are not checked");
        FLOW.to_owned()
    };
    let deployed = http
        .post(format!("{api}/flows"))
        .header("content-type", "application/x-yaml")
        .body(flow)
        .send()
        .await?;
    assert!(deployed.status().is_success(), "{}", deployed.text().await?);
    // Both workers must be connected before the run, or one could take both tasks in turn.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let execution: Value = http
        .post(format!("{api}/executions/tests.otlp/traced?wait=true"))
        .json(&serde_json::json!({}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(execution["state"], "SUCCESS", "{execution}");
    let trace_id = uuid_bytes(execution["id"].as_str().expect("id"));
    let root_span_id = trace_id[8..].to_vec();

    // The root span is exported last (when the execution ends); wait for it and the attempts.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector
            .spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let workers_seen: BTreeSet<_> = spans
            .iter()
            .filter(|s| s.name == "task_run")
            .map(|s| s.instance.clone())
            .collect();
        // A container's spans end (and are exported) before its attempt's span: wait for the
        // attempts they hang under too.
        let attempt_ids: BTreeSet<_> = spans
            .iter()
            .filter(|s| s.name == "task_run")
            .map(|s| s.span_id.clone())
            .collect();
        let containers_placed = spans
            .iter()
            .filter(|s| s.name.starts_with("container."))
            .all(|s| attempt_ids.contains(&s.parent_span_id));
        if spans.iter().any(|s| s.name == "execution")
            && workers_seen.len() >= 2
            && containers_placed
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let of_trace: Vec<&Exported> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let root: Vec<_> = of_trace.iter().filter(|s| s.name == "execution").collect();
    assert_eq!(root.len(), 1, "one root span: {spans:#?}");
    assert_eq!(root[0].span_id, root_span_id);
    assert_eq!(root[0].service, "baton-executor");
    assert!(root[0].parent_span_id.is_empty(), "{:?}", root[0]);

    let steps: Vec<_> = of_trace.iter().filter(|s| s.name == "step").collect();
    assert!(!steps.is_empty(), "steps in the trace: {spans:#?}");
    for step in &steps {
        assert_eq!(step.service, "baton-executor");
        assert_eq!(step.parent_span_id, root_span_id, "{step:?}");
    }
    let attempts: Vec<_> = of_trace.iter().filter(|s| s.name == "task_run").collect();
    let instances: BTreeSet<&str> = attempts.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(
        instances,
        BTreeSet::from(["one", "two"]),
        "attempts from both workers: {attempts:#?}"
    );
    for attempt in &attempts {
        assert_eq!(attempt.service, "baton-worker");
        assert_eq!(attempt.parent_span_id, root_span_id, "{attempt:?}");
    }
    // Nothing of another trace claims this execution's spans.
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "task_run")
            .all(|s| s.trace_id == trace_id),
        "{spans:#?}"
    );

    if docker {
        let boxed = attempts
            .iter()
            .map(|s| s.span_id.clone())
            .collect::<BTreeSet<_>>();
        for name in ["container.create", "container.run", "container.remove"] {
            let container = of_trace
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("a {name} span: {spans:#?}"));
            assert!(
                boxed.contains(&container.parent_span_id),
                "{name} under an attempt: {container:?}"
            );
        }
    }
    drop(workers);
    server.abort();
    Ok(())
}
