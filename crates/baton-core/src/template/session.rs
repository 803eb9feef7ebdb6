//! Per-render state that template functions reach through the hidden `__baton` variable.
//!
//! The host (`secret`, `kv`, `read`) is only borrowed for the duration of a render, while
//! minijinja functions must be `'static`. So functions never call the host: they look up
//! answers gathered so far, and an unanswered call records itself as pending and aborts the
//! render. The engine then asks the host, stores the answer and renders again. Rendering is
//! deterministic given the answers, so the final output equals a single direct render, and
//! each distinct host call is made once per public render call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use minijinja::State;
use minijinja::value::{Object, Value};

use super::error::fault;
use super::{RenderLimits, TemplateErrorKind};

/// A question for the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HostCall {
    Secret(String),
    Kv { namespace: String, key: String },
    Read(String),
}

#[derive(Debug, Clone)]
pub(crate) enum HostAnswer {
    Text(Option<String>),
    Json(Option<serde_json::Value>),
}

/// What every render (and nested `render()`) of one public call shares.
#[derive(Debug)]
pub(crate) struct Shared {
    answers: Mutex<HashMap<HostCall, Result<HostAnswer, String>>>,
    pending: Mutex<Option<HostCall>>,
    /// The host's clock, read once per public call so a template sees one consistent `now`.
    pub now: DateTime<Utc>,
    /// The caller's context, used by `render()` to render nested templates.
    pub context: Value,
    /// `flow.namespace`, the default namespace of `kv()`.
    pub default_namespace: Option<String>,
    pub limits: RenderLimits,
    captured: Mutex<Option<Value>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        now: DateTime<Utc>,
        context: Value,
        default_namespace: Option<String>,
        limits: RenderLimits,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            answers: Mutex::new(HashMap::new()),
            pending: Mutex::new(None),
            now,
            context,
            default_namespace,
            limits,
            captured: Mutex::new(None),
        })
    }

    pub(crate) fn take_pending(&self) -> Option<HostCall> {
        lock(&self.pending).take()
    }

    pub(crate) fn answer(&self, call: HostCall, answer: Result<HostAnswer, String>) {
        lock(&self.answers).insert(call, answer);
    }

    pub(crate) fn take_captured(&self) -> Option<Value> {
        lock(&self.captured).take()
    }

    /// The root context of a render at `depth`: the caller's variables plus `__baton`.
    pub(crate) fn root(self: &Arc<Self>, depth: u32) -> Value {
        let session = Value::from_object(Session {
            shared: Arc::clone(self),
            depth,
        });
        minijinja::value::merge_maps([
            self.context.clone(),
            Value::from_pairs([("__baton", session)]),
        ])
    }
}

/// The `__baton` object: shared state plus the `render()` nesting depth.
#[derive(Debug)]
pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub depth: u32,
}

impl Object for Session {}

impl Session {
    pub(crate) fn of(state: &State<'_, '_>) -> Option<Arc<Session>> {
        state.lookup("__baton")?.downcast_object::<Session>()
    }

    /// Like [`Session::of`], as an error when a function runs outside an engine render.
    pub(crate) fn require(state: &State<'_, '_>) -> Result<Arc<Session>, minijinja::Error> {
        Session::of(state).ok_or_else(|| {
            fault(
                TemplateErrorKind::Other,
                "template functions need a render session",
            )
        })
    }

    /// The host's answer, or an error that aborts this render until the engine has asked.
    pub(crate) fn ask(&self, call: HostCall) -> Result<HostAnswer, minijinja::Error> {
        if let Some(answer) = lock(&self.shared.answers).get(&call) {
            return answer
                .clone()
                .map_err(|message| fault(TemplateErrorKind::Function, message));
        }
        *lock(&self.shared.pending) = Some(call);
        Err(fault(TemplateErrorKind::Other, "waiting for a host lookup"))
    }

    pub(crate) fn capture(&self, value: Value) {
        *lock(&self.shared.captured) = Some(value);
    }
}
