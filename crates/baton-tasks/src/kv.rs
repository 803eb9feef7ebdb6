//! The namespace KV store, as tasks reach it: `kv.set`, `kv.get`, `kv.delete`
//! (`io.kestra.plugin.core.kv.{Set,Get,Delete}`). The store lives in the executor's database;
//! the worker reaches it through [`KvAccess`] (its gRPC stream), never directly.

use std::time::Duration;

use baton_core::duration::IsoDuration;
use baton_core::flow::Property;
use baton_core::flow::props::{KvKeyProps, KvSetProps, KvType};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::{RunContext, TaskOutcome, render};

/// One operation on one key.
#[derive(Clone, Debug, PartialEq)]
pub enum KvOp {
    Get,
    Set {
        value: Value,
        ttl: Option<Duration>,
        /// When false, an existing key makes the call fail.
        overwrite: bool,
    },
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KvRequest {
    pub namespace: String,
    pub key: String,
    pub op: KvOp,
}

/// The store's answer: for Get whether the key exists and its value, for Delete whether it
/// existed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KvAnswer {
    pub found: bool,
    pub value: Option<Value>,
}

/// How a task run reaches the KV store.
pub trait KvAccess: Send + Sync {
    fn call(&self, request: KvRequest) -> BoxFuture<'static, Result<KvAnswer, String>>;
}

/// For runs without a KV store (tests, tools): every call fails, saying so.
pub struct NoKv;

impl KvAccess for NoKv {
    fn call(&self, _: KvRequest) -> BoxFuture<'static, Result<KvAnswer, String>> {
        Box::pin(async { Err("no KV store is reachable from here".to_owned()) })
    }
}

/// Kestra's KV keys: letters, digits, `-`, `_`, `.`, starting with a letter or digit.
fn check_key(key: &str) -> Result<(), String> {
    let valid = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "key: '{key}' is not a KV key (letters, digits, '-', '_' and '.', starting with a \
             letter or a digit)"
        ))
    }
}

fn namespace(given: Option<String>, run: &RunContext) -> Result<String, String> {
    match given.filter(|n| !n.trim().is_empty()) {
        Some(namespace) => Ok(namespace),
        None => run
            .context
            .pointer("/flow/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "namespace: missing and the run has no flow namespace".to_owned()),
    }
}

pub(crate) async fn set(props: &KvSetProps, run: &RunContext) -> TaskOutcome {
    set_inner(props, run)
        .await
        .unwrap_or_else(TaskOutcome::failed)
}

async fn set_inner(props: &KvSetProps, run: &RunContext) -> Result<TaskOutcome, String> {
    // The value is rendered typed, as Kestra's `renderTyped`: `{{ outputs.a.rows }}` stays a
    // list; the other properties as text.
    let rest = render::props(
        &KvSetProps {
            value: Value::Null,
            ..props.clone()
        },
        run,
    )?;
    let value = match &props.value {
        Value::String(text) => run
            .engine
            .render_typed(text, &run.context, run.host.as_ref())
            .map_err(|e| format!("cannot render value: {e}"))?,
        other => run
            .engine
            .render_value(other, &run.context, run.host.as_ref())
            .map_err(|e| format!("cannot render value: {e}"))?,
    };
    let value = match rest.kv_type {
        Some(kind) => convert(value, kind)?,
        None => value,
    };
    check_key(&rest.key)?;
    let ttl = match &rest.ttl {
        None => None,
        Some(Property::Value(duration)) => Some(positive(*duration)?),
        Some(Property::Expression(text)) => Some(positive(
            text.parse::<IsoDuration>()
                .map_err(|e| format!("ttl: '{text}': {e}"))?,
        )?),
    };
    let namespace = namespace(rest.namespace, run)?;
    run.kv
        .call(KvRequest {
            namespace,
            key: rest.key,
            op: KvOp::Set {
                value,
                ttl,
                overwrite: rest.overwrite,
            },
        })
        .await?;
    Ok(TaskOutcome::success(json!({})))
}

fn positive(duration: IsoDuration) -> Result<Duration, String> {
    duration
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("ttl: {duration} is not a positive duration"))
}

/// A text value read as `kvType` says, as Kestra's Set does; other values are kept.
fn convert(value: Value, kind: KvType) -> Result<Value, String> {
    let Value::String(text) = value else {
        return Ok(value);
    };
    let bad = |what: &str| format!("value: '{text}' is not {what}");
    Ok(match kind {
        KvType::String => Value::String(text),
        KvType::Number => serde_json::from_str::<serde_json::Number>(text.trim())
            .map(Value::Number)
            .map_err(|_| bad("a NUMBER"))?,
        // Java's `Boolean.parseBoolean`: "true" in any case is true, anything else false.
        KvType::Boolean => Value::Bool(text.trim().eq_ignore_ascii_case("true")),
        KvType::Json => serde_json::from_str(&text).map_err(|e| bad(&format!("JSON ({e})")))?,
        KvType::Datetime => {
            chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|_| bad("a DATETIME"))?;
            Value::String(text)
        }
        KvType::Date => {
            let date = text.trim();
            let valid = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
                || chrono::DateTime::parse_from_rfc3339(date).is_ok();
            if !valid {
                return Err(bad("a DATE"));
            }
            Value::String(text)
        }
        KvType::Duration => {
            text.trim()
                .parse::<IsoDuration>()
                .map_err(|_| bad("a DURATION"))?;
            Value::String(text)
        }
    })
}

pub(crate) async fn get(props: &KvKeyProps, run: &RunContext) -> TaskOutcome {
    get_inner(props, run)
        .await
        .unwrap_or_else(TaskOutcome::failed)
}

async fn get_inner(props: &KvKeyProps, run: &RunContext) -> Result<TaskOutcome, String> {
    let props = render::props(props, run)?;
    check_key(&props.key)?;
    let namespace = namespace(props.namespace, run)?;
    let answer = run
        .kv
        .call(KvRequest {
            namespace: namespace.clone(),
            key: props.key.clone(),
            op: KvOp::Get,
        })
        .await?;
    if !answer.found && props.error_on_missing {
        return Err(missing(&props.key, &namespace));
    }
    Ok(TaskOutcome::success(
        json!({ "value": answer.value.unwrap_or(Value::Null) }),
    ))
}

pub(crate) async fn delete(props: &KvKeyProps, run: &RunContext) -> TaskOutcome {
    delete_inner(props, run)
        .await
        .unwrap_or_else(TaskOutcome::failed)
}

async fn delete_inner(props: &KvKeyProps, run: &RunContext) -> Result<TaskOutcome, String> {
    let props = render::props(props, run)?;
    check_key(&props.key)?;
    let namespace = namespace(props.namespace, run)?;
    let answer = run
        .kv
        .call(KvRequest {
            namespace: namespace.clone(),
            key: props.key.clone(),
            op: KvOp::Delete,
        })
        .await?;
    if !answer.found && props.error_on_missing {
        return Err(missing(&props.key, &namespace));
    }
    Ok(TaskOutcome::success(json!({ "deleted": answer.found })))
}

fn missing(key: &str, namespace: &str) -> String {
    format!(
        "No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` is set \
         to true"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_types_convert_text_as_kestra_does() {
        let text = |s: &str| Value::String(s.to_owned());
        assert_eq!(convert(text("42"), KvType::Number), Ok(json!(42)));
        assert_eq!(convert(text("4.5"), KvType::Number), Ok(json!(4.5)));
        assert!(convert(text("four"), KvType::Number).is_err());
        assert_eq!(convert(text("TRUE"), KvType::Boolean), Ok(json!(true)));
        assert_eq!(convert(text("yes"), KvType::Boolean), Ok(json!(false)));
        assert_eq!(
            convert(text(r#"{"a":1}"#), KvType::Json),
            Ok(json!({"a": 1}))
        );
        assert!(convert(text("2024-13-01"), KvType::Date).is_err());
        assert!(convert(text("2024-01-31T10:00:00Z"), KvType::Datetime).is_ok());
        assert!(convert(text("PT1H"), KvType::Duration).is_ok());
        // A value that is not text is kept as it is.
        assert_eq!(convert(json!([1]), KvType::Number), Ok(json!([1])));
        assert!(check_key("my_key-1.v2").is_ok());
        assert!(check_key("no spaces").is_err());
        assert!(check_key("").is_err());
    }
}
