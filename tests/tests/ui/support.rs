//! What the UI tests share: an in-process API + UI on a real socket, and the flows they use.

use std::time::Duration;

use baton_tests::TestCluster;
use baton_webserver::{ApiOptions, ApiState, router, serve};
use tokio::sync::oneshot;

/// A flow whose inputs cover the execute form's widgets.
pub const FORM_FLOW: &str = r#"id: form
namespace: tests.ui
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
  - id: count
    type: INT
    defaults: 3
  - id: owner
    type: STRING
  - id: report
    type: FILE
    required: false
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "region {{ inputs.region }} tags {{ inputs.tags }} dry {{ inputs.dry_run }} owner {{ inputs.owner }}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.count * 2 }}"
  - id: size
    type: io.kestra.plugin.core.debug.Return
    runIf: "{{ inputs.report != null }}"
    format: "{{ read(inputs.report) | length }}"
"#;

/// The API and UI of a test cluster on 127.0.0.1:0, and a client that does not follow
/// redirects (the tests read them).
pub struct Ui {
    pub cluster: TestCluster,
    pub base: String,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Ui {
    pub async fn start(options: ApiOptions) -> anyhow::Result<Self> {
        let cluster = TestCluster::builder().start().await?;
        let state = ApiState::new(cluster.store.clone(), cluster.executor.clone())
            .with_options(options)
            .with_storage(cluster.storage.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(serve(listener, router(state), async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            cluster,
            base,
            http,
            _stop: stop,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`: the status and the body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(reqwest::StatusCode, String)> {
        let response = self.http.get(self.url(path)).send().await?;
        Ok((response.status(), response.text().await?))
    }
}

/// Where a redirect goes.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `application/x-www-form-urlencoded` bodies, as a browser posts a form.
pub trait FormBody {
    fn urlencoded(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn urlencoded(self, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
