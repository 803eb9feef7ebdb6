//! What a container costs a Baton task: a flow of 40 sequential `python.script` tasks in
//! `python:3.11-slim` containers, run through a whole Baton (executor, hub and a worker over
//! real gRPC, SQLite), against `docker run --rm python:3.11-slim python -c pass` run 40 times
//! from the shell in the same process, alternating batches so both see the same machine.
//!
//! `cargo bench -p baton-tests --bench docker` prints the median per-task times of each batch
//! and the ratio; the goal is Baton ≤ 1.1 × docker run + 20 ms. It prints, it does not assert.
//! With `RUST_LOG=baton_tasks::docker=debug` it also prints, per container, how long each
//! Engine API step took (create, upload and attach, start, run, remove).

use std::process::Command;
use std::time::{Duration, Instant};

use baton_core::execution::State;
use baton_tests::TestCluster;

const TASKS: usize = 40;
const ROUNDS: usize = 3;
const IMAGE: &str = "python:3.11-slim";

fn flow() -> String {
    let mut yaml = String::from("id: containers\nnamespace: bench\ntasks:\n");
    for i in 0..TASKS {
        yaml.push_str(&format!(
            "  - id: t{i}\n    type: io.kestra.plugin.scripts.python.Script\n    \
             containerImage: {IMAGE}\n    taskRunner:\n      \
             type: io.kestra.plugin.scripts.runner.docker.Docker\n      pullPolicy: NEVER\n    \
             script: pass\n"
        ));
    }
    yaml
}

/// One execution of the flow; the time per task.
async fn baton_batch(cluster: &TestCluster) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let id = cluster.execute("bench", "containers", &[]).await?;
    let execution = cluster
        .wait_for_within(&id, Duration::from_secs(600), |e| e.state.is_terminal())
        .await?;
    anyhow::ensure!(
        execution.state == State::Success,
        "the execution ended {}",
        execution.state
    );
    Ok(start.elapsed() / TASKS as u32)
}

/// `docker run --rm` of the same image, `TASKS` times in a row; the median time of one.
fn docker_run_batch() -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let start = Instant::now();
        let status = Command::new("docker")
            .args(["run", "--rm", IMAGE, "python", "-c", "pass"])
            .status()?;
        anyhow::ensure!(status.success(), "docker run failed: {status}");
        times.push(start.elapsed());
    }
    Ok(median(&mut times))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cluster = TestCluster::builder().slots(1).start().await?;
        cluster.deploy(&flow()).await?;
        // Warm up: the image's layers and the engine's caches.
        baton_batch(&cluster).await?;
        let (mut baton, mut docker) = (Vec::new(), Vec::new());
        for round in 1..=ROUNDS {
            let plain = tokio::task::spawn_blocking(docker_run_batch).await??;
            let ours = baton_batch(&cluster).await?;
            println!(
                "round {round}: docker run {:.0} ms, Baton {:.0} ms per task",
                ms(plain),
                ms(ours)
            );
            docker.push(plain);
            baton.push(ours);
        }
        let (plain, ours) = (median(&mut docker), median(&mut baton));
        let goal = plain.mul_f64(1.1) + Duration::from_millis(20);
        println!(
            "{TASKS} sequential python tasks in containers, median of {ROUNDS} rounds: \
             docker run --rm {:.0} ms, Baton {:.0} ms per task ({:.2}x; goal <= {:.0} ms: {})",
            ms(plain),
            ms(ours),
            ours.as_secs_f64() / plain.as_secs_f64(),
            ms(goal),
            if ours <= goal { "met" } else { "missed" }
        );
        Ok(())
    })
}
