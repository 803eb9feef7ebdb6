//! `baton health`: asks a server role's health endpoint and exits 0 only when it answers 2xx.
//!
//! Container images have no curl; this is what `HEALTHCHECK`/compose healthchecks run inside
//! the container (`baton health`, `baton health --live`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

/// A probe must answer well inside the orchestrator's own timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct HealthArgs {
    /// Ask the liveness endpoint (`/health/live`) instead of readiness (`/health/ready`).
    #[arg(long)]
    live: bool,
    /// The address the role listens on; the probe goes to its port on loopback.
    #[arg(long, env = "BATON_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// A full URL to ask instead (overrides --live and --listen).
    #[arg(long)]
    url: Option<String>,
}

pub fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(|| {
        let path = if args.live {
            "/health/live"
        } else {
            "/health/ready"
        };
        // 0.0.0.0 and :: are not addresses to connect to; the role is on this host.
        let host = if args.listen.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            match args.listen.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            }
        };
        format!("http://{host}:{}{path}", args.listen.port())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                println!("{status} {}", body.trim());
                Ok(if status.is_success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Err(error) => {
                println!("{url}: {error}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
