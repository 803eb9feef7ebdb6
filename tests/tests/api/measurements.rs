//! Latency figures, printed by ignored tests (`--run-ignored only --no-capture`).

use super::support::*;

/// Prints the median time from `POST /executions` to `GET /executions/{id}` answering SUCCESS,
/// for a flow of one `return` task, over loopback. `cargo nextest run -p baton-tests
/// --run-ignored only latency` (add `--release` for a release figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency_of_post_execution_to_success() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(ONE_RETURN).await?;
    let mut samples = Vec::new();
    for round in 0..33 {
        let started = Instant::now();
        let id = api.execute("one_return", json!({})).await?;
        loop {
            let (_, execution) = api.get(&format!("/executions/{id}")).await?;
            if execution["state"] == "SUCCESS" {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{execution}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The first rounds warm the connection pool and the flow cache.
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("POST execution -> SUCCESS over loopback", samples);

    // The same without HTTP, to tell the API's share from the executor's and workers'.
    let mut samples = Vec::new();
    for round in 0..33 {
        let started = Instant::now();
        let id = api._cluster.execute("tests.api", "one_return", &[]).await?;
        loop {
            let execution = api._cluster.execution(&id).await?;
            if execution.state == baton_core::execution::State::Success {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{id}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("create_execution -> SUCCESS in process", samples);
    api.stop().await
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}, one return task: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

/// Prints the median time of `POST /executions/{ns}/{id}?wait=true` for a flow of one `return`
/// task, over loopback (one request, answered once the execution has ended). `cargo nextest
/// run -p baton-tests --run-ignored only latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency_of_post_execution_with_wait() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(ONE_RETURN).await?;
    let mut samples = Vec::new();
    for round in 0..43 {
        let started = Instant::now();
        let response = api
            .http
            .post(api.url("/executions/tests.api/one_return?wait=true"))
            .send()
            .await?;
        let execution = expect(response, StatusCode::OK).await?;
        anyhow::ensure!(execution["state"] == "SUCCESS", "{execution}");
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("POST execution?wait=true over loopback", samples);
    api.stop().await
}
