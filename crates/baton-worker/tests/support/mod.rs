//! A hub on a real TCP socket (port 0), the flow the tests run, and waiting for hub events
//! with bounded timeouts. Shared by `baton-worker`'s and `baton-cli`'s tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baton_executor::hub::{
    Assignment, FlowSource, HubEvent, HubOptions, LogLine, TaskResult, WorkerHub,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::Receiver;
use tonic::transport::server::TcpIncoming;

pub const TOKEN: &str = "test-token";

/// Every task the tests run, in one flow.
pub const FLOW: &str = r#"
id: worker_tests
namespace: tests.worker
inputs:
  - id: name
    type: STRING
    defaults: world
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }}"
  - id: warn_twice
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message:
      - "first {{ inputs.name }}"
      - second
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name | upper }}"
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      greeting: "hi {{ inputs.name }}"
  - id: fail_when
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.name == 'bad' }}"
    errorMessage: "name {{ inputs.name }} is bad"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    env:
      GREETING: "hello {{ inputs.name }}"
    inputFiles:
      data.txt: "line from {{ inputs.name }}"
    commands:
      - echo "$GREETING"
      - cat data.txt
      - echo oops >&2
  - id: outputs
    type: io.kestra.plugin.scripts.shell.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    script: |
      echo '::{"outputs":{"rows":42,"name":"{{ inputs.name }}"}}::'
      echo '::{"outputs":{"more":true},"metrics":[{"name":"n","type":"counter","value":1}]}::'
      echo '::{"logs":[{"level":"WARN","message":"from the protocol"}]}::'
      echo not-json-output
  - id: exit3
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo before the failure
      - echo "it went wrong" >&2
      - exit 3
      - echo never
  - id: long
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "pgid $$"
      - sleep 30
  - id: short
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "pgid $$"
      - sleep 0.5
      - echo short done
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.3S
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    timeout: PT0.5S
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "pgid $$"
      - sleep 30
  - id: typo
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('NO_SUCH_SECRET') }}"
  - id: pause
    type: io.kestra.plugin.core.flow.Pause
"#;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestHub {
    pub hub: WorkerHub,
    pub events: Receiver<HubEvent>,
    pub addr: SocketAddr,
    /// Every event received so far, in order.
    pub seen: Vec<HubEvent>,
    flow: Arc<str>,
}

pub async fn start_hub(lease: Duration, heartbeat: Duration) -> TestHub {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (hub, events) = WorkerHub::new(HubOptions {
        token: TOKEN.to_owned(),
        lease,
        heartbeat,
    });
    let service = hub.service();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            // Without TCP_NODELAY, small frames wait on delayed ACKs (~40 ms per round trip).
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
            .expect("hub server");
    });
    TestHub {
        hub,
        events,
        addr,
        seen: Vec::new(),
        flow: Arc::from(FLOW),
    }
}

impl TestHub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn assignment(&self, task_run_id: &str, task_id: &str, attempt: u32) -> Assignment {
        Assignment {
            execution_id: "exec-1".to_owned(),
            task_run_id: task_run_id.to_owned(),
            attempt,
            flow: FlowSource {
                namespace: "tests.worker".to_owned(),
                id: "worker_tests".to_owned(),
                revision: 1,
                source: Arc::clone(&self.flow),
            },
            task_id: task_id.to_owned(),
            context: serde_json::json!({
                "inputs": {"name": "world"},
                "flow": {"namespace": "tests.worker", "id": "worker_tests"},
            }),
            worker_group: None,
        }
    }

    pub fn assign(&self, task_run_id: &str, task_id: &str) {
        self.hub.assign(self.assignment(task_run_id, task_id, 1));
    }

    /// The next event, failing the test after [`WAIT`].
    pub async fn next(&mut self) -> HubEvent {
        let event = tokio::time::timeout(WAIT, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no hub event within {WAIT:?}; seen: {:#?}", self.seen))
            .expect("hub events end");
        self.seen.push(event.clone());
        event
    }

    /// Waits for the first event `pick` accepts.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&HubEvent) -> Option<T>) -> T {
        loop {
            let event = self.next().await;
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The result of a task run, received already or waited for.
    pub async fn finished(&mut self, task_run_id: &str) -> TaskResult {
        let earlier = self.seen.iter().find_map(|e| match e {
            HubEvent::Finished(r) if r.task_run_id == task_run_id => Some(r.clone()),
            _ => None,
        });
        if let Some(result) = earlier {
            return result;
        }
        self.wait_for(|e| match e {
            HubEvent::Finished(r) if r.task_run_id == task_run_id => Some(r.clone()),
            _ => None,
        })
        .await
    }

    pub async fn started(&mut self, task_run_id: &str) -> String {
        self.wait_for(|e| match e {
            HubEvent::Started {
                task_run_id: id,
                worker_id,
                ..
            } if id == task_run_id => Some(worker_id.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for the `pgid N` line a shell task prints first.
    pub async fn pgid(&mut self, task_run_id: &str) -> i32 {
        let earlier = self
            .logs(task_run_id)
            .iter()
            .find_map(|l| l.message.strip_prefix("pgid ")?.parse().ok());
        if let Some(pgid) = earlier {
            return pgid;
        }
        self.wait_for(|e| match e {
            HubEvent::Logs(lines) => lines
                .iter()
                .filter(|l| l.task_run_id == task_run_id)
                .find_map(|l| l.message.strip_prefix("pgid ")?.parse().ok()),
            _ => None,
        })
        .await
    }

    /// Log lines of a task run received so far.
    pub fn logs(&self, task_run_id: &str) -> Vec<LogLine> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                HubEvent::Logs(lines) => Some(lines),
                _ => None,
            })
            .flatten()
            .filter(|l| l.task_run_id == task_run_id)
            .cloned()
            .collect()
    }
}

/// True once no process is left in the group (polled, bounded by [`WAIT`]).
pub async fn group_gone(pgid: i32) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
