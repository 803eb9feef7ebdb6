//! Kestra's template functions: `now`, `secret`, `kv`, `read`, `fromJson`/`json`, `render`,
//! `renderOnce`, `range`, `max`, `min`. Arguments arrive positionally (see `catalog.rs`).

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};

use super::error::{fault, type_error};
use super::java_date::{self, Zone, Zoned};
use super::runtime::{self, describe};
use super::session::{HostAnswer, HostCall, Session};
use super::{TemplateErrorKind, filters, is_template};

type FunctionImpl = fn(&State<'_, '_>, &[Value]) -> Result<Value, Error>;

const FUNCTIONS: &[(&str, FunctionImpl)] = &[
    ("now", now),
    ("secret", secret),
    ("kv", kv),
    ("read", read),
    ("fromJson", from_json),
    ("json", from_json),
    ("render", render),
    ("renderOnce", render_once),
    ("range", range),
    ("max", max),
    ("min", min),
];

pub(crate) fn register(env: &mut Environment<'static>) {
    for (name, implementation) in FUNCTIONS {
        let implementation = *implementation;
        env.add_function(*name, move |state: &State<'_, '_>, args: Rest<Value>| {
            implementation(state, &args)
        });
    }
}

/// The argument at `index`, treating `none` (not given) as absent.
pub(crate) fn arg(args: &[Value], index: usize) -> Option<&Value> {
    args.get(index)
        .filter(|v| !v.is_none() && !v.is_undefined())
}

/// A string argument, or a type error naming the callable and the parameter.
pub(crate) fn str_arg<'a>(
    args: &'a [Value],
    index: usize,
    callable: &str,
    param: &str,
) -> Result<Option<&'a str>, Error> {
    match arg(args, index) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| {
            type_error(format!(
                "{callable}: '{param}' must be a string, got {}",
                describe(v)
            ))
        }),
    }
}

fn required_str<'a>(
    args: &'a [Value],
    index: usize,
    callable: &str,
    param: &str,
) -> Result<&'a str, Error> {
    str_arg(args, index, callable, param)?
        .ok_or_else(|| type_error(format!("{callable}: missing argument '{param}'")))
}

fn now(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let session = Session::require(state)?;
    let zone = match str_arg(args, 0, "now()", "timeZone")? {
        Some(name) => Zone::parse(name).map_err(type_error)?,
        None => Zone::UTC,
    };
    let zoned = Zoned::new(session.shared.now, zone);
    java_date::format(&zoned, "iso")
        .map(Value::from)
        .map_err(type_error)
}

fn secret(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let key = required_str(args, 0, "secret()", "key")?;
    let session = Session::require(state)?;
    match session.ask(HostCall::Secret(key.to_string()))? {
        HostAnswer::Text(Some(value)) => Ok(Value::from(value)),
        _ => Err(fault(
            TemplateErrorKind::Function,
            format!("secret '{key}' not found"),
        )),
    }
}

/// `kv(key, namespace, errorOnMissing)`, as Kestra's: without a namespace the flow's is read,
/// then each parent namespace in turn (`company.team`, then `company`); a missing key is an
/// error unless `errorOnMissing` is false.
fn kv(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let key = required_str(args, 0, "kv()", "key")?;
    let session = Session::require(state)?;
    let error_on_missing = arg(args, 2).is_none_or(Value::is_true);
    let (namespaces, named) = match str_arg(args, 1, "kv()", "namespace")? {
        Some(ns) => (vec![ns.to_string()], ns.to_string()),
        None => {
            let flow = session.shared.default_namespace.clone().ok_or_else(|| {
                fault(
                    TemplateErrorKind::Function,
                    format!("kv('{key}') needs a namespace: flow.namespace is not set"),
                )
            })?;
            let mut chain = vec![flow.clone()];
            let mut current = flow.as_str();
            while let Some((parent, _)) = current.rsplit_once('.') {
                chain.push(parent.to_string());
                current = parent;
            }
            (chain, flow)
        }
    };
    for namespace in namespaces {
        let call = HostCall::Kv {
            namespace,
            key: key.to_string(),
        };
        if let HostAnswer::Json(Some(value)) = session.ask(call)? {
            return Ok(filters::from_json_value(&value));
        }
    }
    if error_on_missing {
        return Err(fault(
            TemplateErrorKind::Function,
            format!("The key '{key}' does not exist in the namespace '{named}'."),
        ));
    }
    Ok(Value::from(()))
}

fn read(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let path = required_str(args, 0, "read()", "path")?;
    let session = Session::require(state)?;
    match session.ask(HostCall::Read(path.to_string()))? {
        HostAnswer::Text(Some(text)) => Ok(Value::from(text)),
        _ => Err(fault(
            TemplateErrorKind::Function,
            format!("file '{path}' not found"),
        )),
    }
}

fn from_json(_: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    match arg(args, 0) {
        None => Ok(Value::from(())),
        Some(v) => filters::parse_json(v),
    }
}

fn render(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let recursive = arg(args, 1).is_none_or(Value::is_true);
    render_value(state, args, recursive)
}

fn render_once(state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    render_value(state, args, false)
}

/// Renders a string that itself contains a template, against the same context. Recursive
/// rendering repeats while the output still contains template syntax; each pass counts
/// towards `max_render_depth`.
fn render_value(state: &State<'_, '_>, args: &[Value], recursive: bool) -> Result<Value, Error> {
    let Some(value) = args.first() else {
        return Ok(Value::from(()));
    };
    let Some(mut text) = value.as_str().map(str::to_string) else {
        return Ok(value.clone());
    };
    let session = Session::require(state)?;
    let mut depth = session.depth;
    while is_template(&text) {
        depth += 1;
        if depth > session.shared.limits.max_render_depth {
            return Err(fault(
                TemplateErrorKind::Limit,
                format!(
                    "render() nested more than {} levels deep",
                    session.shared.limits.max_render_depth
                ),
            ));
        }
        let rendered = super::render_nested(state.env(), &session.shared, depth, &text)?;
        if !recursive || rendered == text {
            return Ok(Value::from(rendered));
        }
        text = rendered;
    }
    Ok(Value::from(text))
}

fn range(_: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let start = arg(args, 0).cloned().unwrap_or(Value::from(0));
    let end = arg(args, 1).cloned().unwrap_or(Value::from(0));
    let step = arg(args, 2).cloned().unwrap_or(Value::from(1));
    runtime::range(&start, &end, &step)
}

fn max(_: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    extreme(args, "max()", std::cmp::Ordering::Greater)
}

fn min(_: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    extreme(args, "min()", std::cmp::Ordering::Less)
}

fn extreme(args: &[Value], name: &str, wanted: std::cmp::Ordering) -> Result<Value, Error> {
    let mut best: Option<&Value> = None;
    for value in args {
        if value.kind() != ValueKind::Number {
            return Err(type_error(format!(
                "{name} takes numbers, got {}",
                describe(value)
            )));
        }
        if best.is_none_or(|b| value.cmp(b) == wanted) {
            best = Some(value);
        }
    }
    Ok(best.cloned().unwrap_or(Value::from(())))
}
