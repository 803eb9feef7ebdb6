//! How an execution's trace reaches every role: it is derived from the execution id, which every
//! hop already carries (queue messages, `Assign`, the stored document), so nothing else has to
//! travel or be stored.
//!
//! The execution id is a UUID, 16 bytes, exactly an OpenTelemetry trace id: one execution is
//! one trace. Its root span (`execution`, emitted by the executor when the execution ends) has
//! the last 8 bytes as span id; the executor's steps and the workers' attempts are children of
//! that span, whichever process and host they run on.

use std::cell::Cell;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// The trace id of an execution: its UUID's 16 bytes. `None` for text that is not a UUID.
pub fn execution_trace_id(execution_id: &str) -> Option<TraceId> {
    let hex: String = execution_id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16)
        .ok()
        .filter(|n| *n != 0)
        .map(|n| TraceId::from_bytes(n.to_be_bytes()))
}

/// The span id of an execution's root span: the last 8 bytes of its trace id (never zero, an
/// invalid span id).
pub fn execution_span_id(trace_id: TraceId) -> SpanId {
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    if low == [0; 8] {
        low[7] = 1;
    }
    SpanId::from_bytes(low)
}

/// The execution's root span as a remote parent, for spans of any role to hang under. An empty
/// context (a new trace) for an id that is not a UUID.
pub fn execution_context(execution_id: &str) -> opentelemetry::Context {
    match execution_trace_id(execution_id) {
        Some(trace_id) => opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            execution_span_id(trace_id),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        None => opentelemetry::Context::new(),
    }
}

thread_local! {
    /// The ids the next span built on this thread gets, set by [`record_execution_span`] around
    /// one synchronous build.
    static FIXED_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The tracer provider's id generator: random ids, except for an execution's root span, whose
/// ids are derived from the execution id (the SDK has no other way to choose a span's id).
#[derive(Debug, Default)]
pub struct ExecutionIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for ExecutionIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        FIXED_IDS
            .get()
            .map_or_else(|| self.random.new_trace_id(), |(trace, _)| trace)
    }

    fn new_span_id(&self) -> SpanId {
        FIXED_IDS
            .get()
            .map_or_else(|| self.random.new_span_id(), |(_, span)| span)
    }
}

/// What the root span of an ended execution says.
pub struct ExecutionSpan<'a> {
    pub execution_id: &'a str,
    pub namespace: &'a str,
    pub flow_id: &'a str,
    pub state: &'static str,
    pub started: SystemTime,
    pub ended: SystemTime,
}

/// Exports an ended execution's root span (`execution`, from its creation to its end) through
/// the global tracer provider. Its ids come from the execution id, so the steps and attempts
/// exported earlier by any role are its children. A no-op without a provider.
pub fn record_execution_span(execution: &ExecutionSpan<'_>) {
    let Some(trace_id) = execution_trace_id(execution.execution_id) else {
        return;
    };
    let tracer = opentelemetry::global::tracer("baton");
    let builder = tracer
        .span_builder("execution")
        .with_start_time(execution.started)
        .with_attributes([
            KeyValue::new("baton.execution.id", execution.execution_id.to_owned()),
            KeyValue::new("baton.namespace", execution.namespace.to_owned()),
            KeyValue::new("baton.flow.id", execution.flow_id.to_owned()),
            KeyValue::new("baton.execution.state", execution.state),
        ]);
    FIXED_IDS.set(Some((trace_id, execution_span_id(trace_id))));
    let mut span = builder.start_with_context(&tracer, &opentelemetry::Context::new());
    FIXED_IDS.set(None);
    span.end_with_timestamp(execution.ended);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_id_is_its_trace_id_and_names_its_root_span() {
        let trace = execution_trace_id("01a20499-672b-762d-8836-d80ee4f53842").expect("a uuid");
        assert_eq!(trace.to_string(), "01a20499672b762d8836d80ee4f53842");
        assert_eq!(execution_span_id(trace).to_string(), "8836d80ee4f53842");
        let context = execution_context("01a20499-672b-762d-8836-d80ee4f53842");
        assert_eq!(context.span().span_context().trace_id(), trace);
        assert!(context.span().span_context().is_remote());
    }

    #[test]
    fn text_that_is_not_a_uuid_has_no_trace_id() {
        assert_eq!(execution_trace_id("not-a-uuid"), None);
        assert_eq!(
            execution_trace_id("00000000-0000-0000-0000-000000000000"),
            None
        );
        assert!(!execution_context("x").span().span_context().is_valid());
    }
}
