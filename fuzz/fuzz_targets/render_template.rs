//! Any template text, rendered against a fixed context, yields text or an error — never a
//! panic, a hang (fuel bounds loops) or unbounded output.
#![no_main]

use baton_core::template::{RenderLimits, TemplateEngine, TemplateHost};
use libfuzzer_sys::fuzz_target;

struct Host;

impl TemplateHost for Host {
    fn secret(&self, name: &str) -> Result<Option<String>, String> {
        Ok((name == "TOKEN").then(|| "s3cret".to_owned()))
    }
    fn kv(&self, _namespace: &str, key: &str) -> Result<Option<serde_json::Value>, String> {
        Ok((key == "K").then(|| serde_json::json!({"a": [1, 2]})))
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file {path}"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static ENGINE: TemplateEngine = TemplateEngine::new(RenderLimits::default());
    }
    let Ok(source) = std::str::from_utf8(data) else { return };
    let context = serde_json::json!({
        "inputs": {"name": "world", "n": 3, "list": ["a", "b"], "map": {"k": "v"}},
        "outputs": {"task": {"value": "x", "outputFiles": {"f.csv": "kestra:///f.csv"}}},
        "vars": {"tpl": "{{ inputs.name }}", "self": "{{ render(vars.self) }}"},
        "trigger": {"date": "2024-03-01T09:00:00Z"},
        "execution": {"id": "abc", "startDate": "2024-03-01T09:00:00.123Z"},
        "flow": {"id": "f", "namespace": "ns"},
    });
    ENGINE.with(|engine| {
        let _ = engine.check(source);
        let _ = engine.render(source, &context, &Host);
        let _ = engine.render_typed(source, &context, &Host);
    });
});
