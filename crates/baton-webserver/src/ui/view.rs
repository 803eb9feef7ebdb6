//! Small pieces every page uses: the navigation bar, state badges, times, query strings.

use chrono::{DateTime, Utc};

use crate::ApiState;
use baton_core::execution::State;

/// What the layout needs: which section is current, and whether there is a session to end.
pub struct Nav {
    pub active: &'static str,
    pub logout: bool,
    /// Appended to asset URLs (`?v=`) so browsers drop a stale copy.
    pub assets: u64,
}

impl Nav {
    pub fn new(active: &'static str) -> Self {
        Self {
            active,
            logout: false,
            assets: super::assets::VERSION,
        }
    }

    pub fn of(state: &ApiState, active: &'static str) -> Self {
        Self {
            logout: state.options.basic_auth.is_some(),
            ..Self::new(active)
        }
    }
}

/// The CSS class of a state's colour: `st-success`, `st-running`…
pub fn state_class(state: State) -> String {
    format!("st-{}", state.as_str().to_ascii_lowercase())
}

/// A time as people read it in lists: `2025-01-31 10:00:03` (UTC, the store's zone).
pub fn time_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration such as `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`.
pub fn duration_text(duration: chrono::Duration) -> String {
    let ms = duration.num_milliseconds().max(0);
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h {:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Percent-encodes a query string value (RFC 3986 unreserved characters stay as they are).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `key=value&…` from the pairs whose value is not empty.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", query_escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A JSON value as indented text for `<pre>` blocks.
pub fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let ms = chrono::Duration::milliseconds;
        assert_eq!(duration_text(ms(850)), "850 ms");
        assert_eq!(duration_text(ms(12_340)), "12.3 s");
        assert_eq!(duration_text(ms(245_000)), "4m 05s");
        assert_eq!(duration_text(ms(7_380_000)), "2h 03m");
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("a b&c=d/é"), "a%20b%26c%3Dd/%C3%A9");
        assert_eq!(
            query_string([("namespace", "company.team"), ("flowId", ""), ("q", "x y")]),
            "namespace=company.team&q=x%20y"
        );
    }
}
