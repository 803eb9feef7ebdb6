//! REST calls that the tests driving real `baton` processes share.

/// Deploys `flow` (YAML) with `POST {api}/flows`, `api` being the server's `…/api/v1`; fails
/// with the server's answer when it refuses the flow.
pub async fn deploy_flow(http: &reqwest::Client, api: &str, flow: &str) -> anyhow::Result<()> {
    let response = http
        .post(format!("{api}/flows"))
        .header("content-type", "application/x-yaml")
        .body(flow.to_owned())
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "deploying a flow: {status} {}",
        response.text().await?
    );
    Ok(())
}
