//! The process's logs and traces: one `tracing` subscriber with the log output (text or JSON
//! lines on stderr; JSON lines carry the fields of the spans they happen in, such as
//! `execution_id` and `task_run_id`) and, when `telemetry.otlpEndpoint` is set, an
//! OpenTelemetry layer exporting Baton's spans over OTLP/gRPC.
//!
//! Spans of one execution share a trace whatever process emits them: see `baton_proto::trace`.

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{self, Config, Role};

/// Flushes exported spans on [`Telemetry::shutdown`].
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still buffered; call it before the runtime goes away (the exporter's
    /// gRPC client runs on it).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {error}");
        }
    }
}

/// Installs the subscriber. Must run inside the Tokio runtime the roles run on.
pub fn init(config: &Config, role: Role, instance: &str) -> anyhow::Result<Telemetry> {
    // The filter was checked when the configuration was validated.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let output = match config.log.format {
        config::LogFormat::Text => output
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        config::LogFormat::Json => output.json().with_ansi(false).boxed(),
    };
    let provider = match &config.telemetry.otlp_endpoint {
        Some(endpoint) => Some(provider(config, role, instance, endpoint)?),
        None => None,
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("baton"))
            // Baton's own spans only: a dependency's spans would be noise in every trace.
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.target().starts_with("baton")
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .with(traces)
        .try_init();
    Ok(Telemetry { provider })
}

fn provider(
    config: &Config,
    role: Role,
    instance: &str,
    endpoint: &str,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("cannot set up the OTLP exporter to {endpoint}"))?;
    let service = config
        .telemetry
        .service_name
        .clone()
        .unwrap_or_else(|| format!("baton-{}", role.name()));
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.instance.id", instance.to_owned()))
        .with_attribute(KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION").to_owned(),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(baton_proto::trace::ExecutionIdGenerator::default())
        .with_resource(resource)
        .build();
    // The executor emits executions' root spans through the global provider.
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}
