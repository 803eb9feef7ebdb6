//! Templates in Kestra's Pebble dialect, rendered with minijinja behind a rewriting layer.
//!
//! A Pebble template is parsed by Baton's own lexer and expression parser (Pebble's operator
//! precedences, `??`, `? :`, `contains`, `elseif`, 0-based `loop.index`, …) and rewritten into
//! minijinja source whose lookups and operators call small helpers with Pebble semantics
//! (`runtime.rs`). minijinja then compiles and runs it with fuel, inside a bounded writer.
//!
//! Invariant: no IO. Secrets, the KV store, files and the clock come from [`TemplateHost`].

mod catalog;
mod date_filters;
mod date_parse;
mod emit;
mod error;
mod filters;
mod functions;
mod java_date;
mod jq;
mod jq_builtins;
mod lexer;
mod parser;
mod refs;
mod rewrite;
mod runtime;
mod session;
#[cfg(test)]
mod tests;
mod text;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};

pub use error::{TemplateError, TemplateErrorKind};
pub use refs::{OutputReference, output_references};

use error::fault;
use session::{HostAnswer, HostCall, Shared};

/// Bounds on one render, so a template can never hang or exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// minijinja fuel: roughly the number of instructions one render may execute.
    pub fuel: u64,
    /// The most bytes a render may output (each nested `render()` is bounded too).
    pub max_output_bytes: usize,
    /// How deeply `render()` may render templates that come out of templates.
    pub max_render_depth: u32,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            fuel: 100_000,
            max_output_bytes: 1024 * 1024,
            max_render_depth: 5,
        }
    }
}

/// What templates may reach outside the context. Implemented by the worker/executor; tests
/// use an in-memory implementation.
pub trait TemplateHost: Send + Sync {
    fn secret(&self, name: &str) -> Result<Option<String>, String>;
    fn kv(&self, namespace: &str, key: &str) -> Result<Option<serde_json::Value>, String>;
    fn read(&self, path_or_uri: &str) -> Result<String, String>;
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// True when the text contains template syntax at all (`{{`, `{%`, `{#`).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// How many distinct rewritten templates are kept before the cache starts over.
const CACHE_CAPACITY: usize = 2048;
/// How many times one render may stop to ask the host (`secret`, `kv`, `read`).
const MAX_HOST_ROUNDS: usize = 64;

/// Renders Pebble templates. Build once and share (`Send + Sync`); compiled templates are
/// cached by source.
pub struct TemplateEngine {
    limits: RenderLimits,
    generation: RwLock<Arc<Generation>>,
}

/// An environment with its template caches. Replaced wholesale when full, which bounds
/// memory without per-entry bookkeeping; renders in flight keep the old one alive.
struct Generation {
    env: Environment<'static>,
    rewritten: Mutex<HashMap<String, Arc<rewrite::Rewritten>>>,
}

impl Generation {
    fn new(limits: &RenderLimits) -> Generation {
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(limits.fuel));
        // Pebble (as Kestra configures it) keeps the template's final newline.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        // Templates are looked up by their rewritten source, so the loader just returns it.
        env.set_loader(|name| Ok(Some(name.to_string())));
        runtime::register(&mut env);
        filters::register(&mut env);
        functions::register(&mut env);
        Generation {
            env,
            rewritten: Mutex::new(HashMap::new()),
        }
    }
}

impl TemplateEngine {
    pub fn new(limits: RenderLimits) -> Self {
        TemplateEngine {
            limits,
            generation: RwLock::new(Arc::new(Generation::new(&limits))),
        }
    }

    /// Syntax check only (flow validation at deploy time). Positions are 1-based, in the
    /// original Pebble source.
    pub fn check(&self, source: &str) -> Result<(), TemplateError> {
        if !is_template(source) {
            return Ok(());
        }
        let (generation, rewritten) = self.compile(source)?;
        generation
            .env
            .get_template(&rewritten.source)
            .map(|_| ())
            .map_err(|e| TemplateError::from_minijinja(&e, source))
    }

    /// Renders a string template to a string.
    pub fn render(
        &self,
        source: &str,
        ctx: &serde_json::Value,
        host: &dyn TemplateHost,
    ) -> Result<String, TemplateError> {
        if !is_template(source) {
            return Ok(source.to_string());
        }
        let shared = self.shared(ctx, host);
        self.render_shared(source, &shared, host)
    }

    /// Like [`render`](Self::render), but a template that is one `{{ expr }}` (ignoring
    /// surrounding whitespace) returns the expression's typed value.
    pub fn render_typed(
        &self,
        source: &str,
        ctx: &serde_json::Value,
        host: &dyn TemplateHost,
    ) -> Result<serde_json::Value, TemplateError> {
        if !is_template(source) {
            return Ok(serde_json::Value::String(source.to_string()));
        }
        let (generation, rewritten) = self.compile(source)?;
        let shared = self.shared(ctx, host);
        let Some(typed) = &rewritten.typed_source else {
            return self
                .render_shared(source, &shared, host)
                .map(serde_json::Value::String);
        };
        self.run(&generation, source, typed, &shared, host)?;
        let value = shared.take_captured().unwrap_or(Value::from(()));
        serde_json::to_value(&value).map_err(|e| {
            TemplateError::new(
                TemplateErrorKind::Type,
                format!("cannot convert the result to JSON: {e}"),
            )
        })
    }

    /// Renders every string inside a JSON value (arrays, objects, and keys), leaving other
    /// scalars as they are.
    pub fn render_value(
        &self,
        value: &serde_json::Value,
        ctx: &serde_json::Value,
        host: &dyn TemplateHost,
    ) -> Result<serde_json::Value, TemplateError> {
        let mut shared = None;
        self.render_value_with(value, ctx, host, &mut shared)
    }

    fn render_value_with(
        &self,
        value: &serde_json::Value,
        ctx: &serde_json::Value,
        host: &dyn TemplateHost,
        shared: &mut Option<Arc<Shared>>,
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as Json;
        let mut text = |s: &str| -> Result<String, TemplateError> {
            if !is_template(s) {
                return Ok(s.to_string());
            }
            let shared = shared.get_or_insert_with(|| self.shared(ctx, host));
            self.render_shared(s, shared, host)
        };
        Ok(match value {
            Json::String(s) => Json::String(text(s)?),
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        self.render_value_with(item, ctx, host, shared)
                            .map_err(|e| e.under(&format!("[{i}]")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let rendered_key = if is_template(key) {
                        let shared = shared.get_or_insert_with(|| self.shared(ctx, host));
                        self.render_shared(key, shared, host)
                            .map_err(|e| e.under(key))?
                    } else {
                        key.clone()
                    };
                    let item = self
                        .render_value_with(item, ctx, host, shared)
                        .map_err(|e| e.under(key))?;
                    out.insert(rendered_key, item);
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    fn shared(&self, ctx: &serde_json::Value, host: &dyn TemplateHost) -> Arc<Shared> {
        let namespace = ctx
            .pointer("/flow/namespace")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        Shared::new(host.now(), Value::from(Serde(ctx)), namespace, self.limits)
    }

    fn render_shared(
        &self,
        source: &str,
        shared: &Arc<Shared>,
        host: &dyn TemplateHost,
    ) -> Result<String, TemplateError> {
        let (generation, rewritten) = self.compile(source)?;
        self.run(&generation, source, &rewritten.source, shared, host)
    }

    /// The rewritten form of `source`, from the cache when possible.
    fn compile(
        &self,
        source: &str,
    ) -> Result<(Arc<Generation>, Arc<rewrite::Rewritten>), TemplateError> {
        let generation = Arc::clone(
            &self
                .generation
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let cached = generation
            .rewritten
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(source)
            .cloned();
        if let Some(rewritten) = cached {
            return Ok((generation, rewritten));
        }
        let rewritten =
            Arc::new(rewrite::rewrite(source).map_err(|e| TemplateError::syntax(source, e))?);
        let mut map = generation
            .rewritten
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() < CACHE_CAPACITY {
            map.insert(source.to_string(), Arc::clone(&rewritten));
            drop(map);
            return Ok((generation, rewritten));
        }
        drop(map);
        let fresh = Arc::new(Generation::new(&self.limits));
        fresh
            .rewritten
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(source.to_string(), Arc::clone(&rewritten));
        *self
            .generation
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        Ok((fresh, rewritten))
    }

    /// Runs rewritten source, stopping to ask the host whenever a function needs it.
    fn run(
        &self,
        generation: &Generation,
        source: &str,
        rewritten: &str,
        shared: &Arc<Shared>,
        host: &dyn TemplateHost,
    ) -> Result<String, TemplateError> {
        let template = generation
            .env
            .get_template(rewritten)
            .map_err(|e| TemplateError::from_minijinja(&e, source))?;
        for _ in 0..MAX_HOST_ROUNDS {
            match bounded_render(&template, shared.root(0), self.limits.max_output_bytes) {
                Ok(output) => return Ok(output),
                Err(err) => match shared.take_pending() {
                    Some(call) => ask_host(host, shared, call),
                    None => return Err(TemplateError::from_minijinja(&err, source)),
                },
            }
        }
        Err(TemplateError::new(
            TemplateErrorKind::Limit,
            format!("template makes more than {MAX_HOST_ROUNDS} secret/kv/read lookups"),
        ))
    }
}

fn ask_host(host: &dyn TemplateHost, shared: &Shared, call: HostCall) {
    let answer = match &call {
        HostCall::Secret(name) => host
            .secret(name)
            .map(HostAnswer::Text)
            .map_err(|e| format!("secret '{name}': {e}")),
        HostCall::Kv { namespace, key } => host
            .kv(namespace, key)
            .map(HostAnswer::Json)
            .map_err(|e| format!("kv '{key}' in namespace '{namespace}': {e}")),
        HostCall::Read(path) => host
            .read(path)
            .map(|text| HostAnswer::Text(Some(text)))
            .map_err(|e| format!("read '{path}': {e}")),
    };
    shared.answer(call, answer);
}

/// Renders `text` (Pebble source) at `depth` for `render()`; errors keep their kind and
/// message but lose their position, which belongs to the nested text.
pub(crate) fn render_nested(
    env: &Environment<'_>,
    shared: &Arc<Shared>,
    depth: u32,
    text: &str,
) -> Result<String, minijinja::Error> {
    let nested = |e: TemplateError| fault(e.kind, format!("in render(): {}", e.message));
    let rewritten = rewrite::rewrite(text).map_err(|e| nested(TemplateError::syntax(text, e)))?;
    let template = env
        .template_from_str(&rewritten.source)
        .map_err(|e| nested(TemplateError::from_minijinja(&e, text)))?;
    bounded_render(
        &template,
        shared.root(depth),
        shared.limits.max_output_bytes,
    )
    .map_err(|e| nested(TemplateError::from_minijinja(&e, text)))
}

/// Renders into a buffer that refuses to grow past `limit` bytes.
fn bounded_render(
    template: &minijinja::Template<'_, '_>,
    root: Value,
    limit: usize,
) -> Result<String, minijinja::Error> {
    let mut writer = BoundedWriter {
        buffer: Vec::new(),
        limit,
        overflowed: false,
    };
    let result = template.render_captured_to(root, &mut writer).map(|_| ());
    if writer.overflowed {
        return Err(fault(
            TemplateErrorKind::Limit,
            format!("template output exceeds the limit of {limit} bytes"),
        ));
    }
    result?;
    String::from_utf8(writer.buffer).map_err(|_| {
        fault(
            TemplateErrorKind::Other,
            "template output is not valid UTF-8",
        )
    })
}

struct BoundedWriter {
    buffer: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl io::Write for BoundedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buffer.len().saturating_add(data.len()) > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("template output limit reached"));
        }
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
