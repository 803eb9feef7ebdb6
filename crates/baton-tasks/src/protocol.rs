//! Kestra's `::{...}::` protocol: a script prints a whole line `::` + JSON object + `::` to send
//! outputs (`outputs`, merged into `vars`), metrics (`metrics`) and log lines (`logs`) back.

use baton_core::flow::task::LogLevel;

use crate::LogSink;

/// What the protocol lines of one run sent.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub metrics: Vec<serde_json::Value>,
}

/// Where a line came from; plain lines are INFO from stdout and ERROR from stderr (Kestra ≥ 0.21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Captured {
    /// Handles one line of output: a protocol line is applied, any other line is logged.
    pub(crate) fn line(&mut self, stream: Stream, line: &str, logs: &LogSink) {
        let Some(json) = protocol_json(line) else {
            let level = match stream {
                Stream::Stdout => LogLevel::Info,
                Stream::Stderr => LogLevel::Error,
            };
            logs.log(level, line);
            return;
        };
        let value: serde_json::Value = match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            Ok(_) | Err(_) => {
                logs.log(
                    LogLevel::Warn,
                    format!("ignored an output line that is not a JSON object: {line}"),
                );
                return;
            }
        };
        if let Some(serde_json::Value::Object(outputs)) = value.get("outputs") {
            for (key, item) in outputs {
                self.vars.insert(key.clone(), item.clone());
            }
        }
        if let Some(serde_json::Value::Array(metrics)) = value.get("metrics") {
            self.metrics.extend(metrics.iter().cloned());
        }
        if let Some(serde_json::Value::Array(entries)) = value.get("logs") {
            for entry in entries {
                let message = match entry.get("message") {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => continue,
                };
                let level = entry
                    .get("level")
                    .and_then(serde_json::Value::as_str)
                    .map_or(LogLevel::Info, level);
                logs.log(level, message);
            }
        }
    }
}

/// The JSON of a line matching `^::(\{.*\})::$`.
fn protocol_json(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("::")?.strip_suffix("::")?;
    (inner.starts_with('{') && inner.ends_with('}')).then_some(inner)
}

fn level(text: &str) -> LogLevel {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => LogLevel::Trace,
        "DEBUG" => LogLevel::Debug,
        "WARN" | "WARNING" => LogLevel::Warn,
        "ERROR" => LogLevel::Error,
        _ => LogLevel::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskLog;

    fn run(lines: &[(Stream, &str)]) -> (Captured, Vec<TaskLog>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = LogSink::new(tx);
        let mut captured = Captured::default();
        for (stream, line) in lines {
            captured.line(*stream, line, &sink);
        }
        drop(sink);
        let mut logs = Vec::new();
        while let Ok(log) = rx.try_recv() {
            logs.push(log);
        }
        (captured, logs)
    }

    #[test]
    fn outputs_merge_metrics_keep_logs_reemit() {
        let (captured, logs) = run(&[
            (Stream::Stdout, r#"::{"outputs":{"a":1,"b":"x"}}::"#),
            (
                Stream::Stdout,
                r#"::{"outputs":{"b":"y"},"metrics":[{"name":"rows","type":"counter","value":3}]}::"#,
            ),
            (
                Stream::Stdout,
                r#"::{"logs":[{"level":"WARN","message":"careful"}]}::"#,
            ),
            (Stream::Stdout, "plain"),
            (Stream::Stderr, "oops"),
            (Stream::Stdout, " ::{\"outputs\":{}}::"),
            (Stream::Stdout, "::{not json}::"),
        ]);
        assert_eq!(
            serde_json::Value::Object(captured.vars),
            serde_json::json!({"a": 1, "b": "y"})
        );
        assert_eq!(captured.metrics.len(), 1);
        let seen: Vec<(LogLevel, &str)> =
            logs.iter().map(|l| (l.level, l.message.as_str())).collect();
        assert_eq!(seen[0], (LogLevel::Warn, "careful"));
        assert_eq!(seen[1], (LogLevel::Info, "plain"));
        assert_eq!(seen[2], (LogLevel::Error, "oops"));
        assert_eq!(seen[3], (LogLevel::Info, " ::{\"outputs\":{}}::"));
        assert_eq!(seen[4].0, LogLevel::Warn);
    }
}
