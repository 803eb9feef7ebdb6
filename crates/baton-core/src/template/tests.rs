//! Data-driven tests: `cases.txt` holds one case per line (see its header), `flows.txt` every
//! expression of the example flows and seeds, each rendered against a realistic context.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value as Json, json};

use super::*;

/// An in-memory host with fixed answers and a fixed clock.
struct MemoryHost {
    secrets: HashMap<&'static str, &'static str>,
    kv: HashMap<(&'static str, &'static str), Json>,
    files: HashMap<&'static str, &'static str>,
    now: DateTime<Utc>,
}

impl MemoryHost {
    fn new() -> Self {
        MemoryHost {
            secrets: HashMap::from([("API_TOKEN", "tok-123"), ("NESTED", "{{ inputs.who }}")]),
            kv: HashMap::from([
                (("company.team", "KEY"), json!("team-value")),
                (("other.ns", "KEY"), json!({"a": [1, 2]})),
                (("company", "PARENT"), json!("from company")),
            ]),
            files: HashMap::from([
                ("kestra:///company/team/data.txt", "file content"),
                ("query.sql", "SELECT * FROM {{ inputs.table }}"),
            ]),
            now: Utc
                .with_ymd_and_hms(2024, 3, 10, 1, 30, 15)
                .single()
                .unwrap_or_default(),
        }
    }
}

impl TemplateHost for MemoryHost {
    fn secret(&self, name: &str) -> Result<Option<String>, String> {
        if name == "BROKEN" {
            return Err("vault unreachable".to_string());
        }
        Ok(self.secrets.get(name).map(|s| s.to_string()))
    }

    fn kv(&self, namespace: &str, key: &str) -> Result<Option<Json>, String> {
        Ok(self
            .kv
            .iter()
            .find(|((ns, k), _)| *ns == namespace && *k == key)
            .map(|(_, v)| v.clone()))
    }

    fn read(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("no file '{path}'"))
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

/// The context most cases use.
fn base_context() -> Json {
    json!({
        "flow": {"id": "hello", "namespace": "company.team", "revision": 3},
        "execution": {"id": "4wjtkzwVGBM9yKnjm3yv8r", "startDate": "2024-01-15T10:30:45.123456Z", "state": "RUNNING"},
        "inputs": {
            "who": "world", "times": 3, "mode": "fast", "flag": true, "ratio": 2.5,
            "columns_to_keep": ["id", "name"], "taxi": "yellow", "empty": "", "blank": "  ",
            "nothing": null, "map": {"b": 2, "a": 1}, "nums": [3, 1, 2], "table": "public.rows",
            "text": "Hello World", "json": "{\"k\": \"v\", \"n\": [1, 2]}", "csv_url": "https://example.com/a.csv"
        },
        "outputs": {
            "extract": {"uri": "kestra:///company/team/extract.csv", "outputFiles": {"yellow_tripdata_2024-03.csv": "kestra:///out/y.csv"}},
            "task-id": {"value": "hyphen"},
            "transform": {"outputFiles": {"products.json": "kestra:///out/products.json"}},
            "make_value": {"value": "WORLD-1"},
            "count": {"row": {"n": 42}},
            "api": {"body": "{\"items\": [{\"id\": 1, \"ok\": true}, {\"id\": 2, \"ok\": false}], \"total\": 2}"}
        },
        "vars": {"greeting": "Hi {{ inputs.who }}", "deep": "{{ render(vars.greeting) }}!", "loop": "{{ render(vars.loop) }}", "plain": "no template"},
        "trigger": {"date": "2024-03-10T02:30:00+01:00"},
        "taskrun": {"value": "{\"k\": \"tv\"}", "attemptsCount": 1, "id": "tr1"},
        "labels": {"team": "data"},
        "workingDir": "/tmp/wd",
        "envs": {"region": "eu"}
    })
}

#[track_caller]
fn check(engine: &TemplateEngine, ctx: &Json, template: &str, expected: &str, origin: &str) {
    let host = MemoryHost::new();
    if let Some(typed) = expected.strip_prefix('=') {
        let want: Json = serde_json::from_str(typed)
            .unwrap_or_else(|e| panic!("{origin}: bad expected JSON {typed}: {e}"));
        match engine.render_typed(template, ctx, &host) {
            Ok(got) => assert_eq!(got, want, "{origin}: {template}"),
            Err(e) => panic!("{origin}: {template} failed: {e:?}"),
        }
        return;
    }
    if let Some(spec) = expected.strip_prefix('!') {
        let (head, needle) = spec.split_once(' ').unwrap_or((spec, ""));
        let (kind, position) = head.split_once('@').unwrap_or((head, ""));
        let err = match engine.render(template, ctx, &host) {
            Ok(out) => panic!("{origin}: {template} rendered {out:?}, expected error {spec}"),
            Err(e) => e,
        };
        let want_kind = match kind {
            "syntax" => TemplateErrorKind::Syntax,
            "undefined" => TemplateErrorKind::UndefinedVariable,
            "function" => TemplateErrorKind::Function,
            "limit" => TemplateErrorKind::Limit,
            "type" => TemplateErrorKind::Type,
            _ => TemplateErrorKind::Other,
        };
        assert_eq!(err.kind, want_kind, "{origin}: {template}: {err:?}");
        assert!(
            err.message.contains(needle),
            "{origin}: {template}: {err:?} lacks {needle:?}"
        );
        if let Some((line, column)) = position.split_once(':') {
            let at = (
                err.line.unwrap_or(0).to_string(),
                err.column.unwrap_or(0).to_string(),
            );
            assert_eq!(
                at,
                (line.to_string(), column.to_string()),
                "{origin}: {template}: {err:?}"
            );
        }
        if want_kind == TemplateErrorKind::Syntax {
            assert!(
                engine.check(template).is_err(),
                "{origin}: check accepted {template}"
            );
        }
        return;
    }
    match engine.render(template, ctx, &host) {
        Ok(out) => assert_eq!(out, expected, "{origin}: {template}"),
        Err(e) => panic!("{origin}: {template} failed: {e:?}"),
    }
    assert_eq!(
        engine.check(template),
        Ok(()),
        "{origin}: check rejected {template}"
    );
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

fn limits_from(spec: &str) -> RenderLimits {
    let mut limits = RenderLimits::default();
    for part in spec.split_whitespace() {
        let (key, value) = part.split_once('=').unwrap_or((part, "0"));
        let value: u64 = value.parse().unwrap_or(0);
        match key {
            "fuel" => limits.fuel = value,
            "output" => limits.max_output_bytes = usize::try_from(value).unwrap_or(0),
            "depth" => limits.max_render_depth = u32::try_from(value).unwrap_or(0),
            _ => {}
        }
    }
    limits
}

/// Runs every case of a table file; returns how many ran.
fn run_table(name: &str, table: &str) -> usize {
    let mut engine = TemplateEngine::new(RenderLimits::default());
    let base = base_context();
    let mut ctx = base.clone();
    let mut count = 0;
    let mut failures = Vec::new();
    for (index, line) in table.lines().enumerate() {
        let origin = format!("{name}:{}", index + 1);
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "@ctx base" {
            ctx = base.clone();
            continue;
        }
        if let Some(json) = line.strip_prefix("@ctx ") {
            let extra: Json =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{origin}: bad context: {e}"));
            ctx = base.clone();
            if let (Some(ctx), Some(extra)) = (ctx.as_object_mut(), extra.as_object()) {
                for (key, value) in extra {
                    if value == "__absent__" {
                        ctx.remove(key);
                    } else {
                        ctx.insert(key.clone(), value.clone());
                    }
                }
            }
            continue;
        }
        if let Some(spec) = line.strip_prefix("@limits") {
            engine = TemplateEngine::new(limits_from(spec));
            continue;
        }
        let Some((template, expected)) = line.split_once(" =>") else {
            panic!("{origin}: expected 'template => expected'");
        };
        let (template, expected) = (unescape(template.trim()), unescape(expected.trim()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(&engine, &ctx, &template, &expected, &origin);
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(message);
        }
        count += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}

#[test]
fn table_cases() {
    let count = run_table("cases.txt", include_str!("cases.txt"));
    assert!(count >= 130, "only {count} cases");
}

#[test]
fn example_flow_expressions() {
    let count = run_table("flows.txt", include_str!("flows.txt"));
    assert!(count >= 20, "only {count} flow expressions");
}

#[test]
fn render_value_renders_nested_strings_and_keys() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let value = json!({"{{ inputs.who }}": ["{{ inputs.times + 1 }}", 5, null, {"k": "plain"}]});
    let out = engine.render_value(&value, &base_context(), &MemoryHost::new());
    assert_eq!(out, Ok(json!({"world": ["4", 5, null, {"k": "plain"}]})));
}

#[test]
fn render_typed_keeps_types() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let host = MemoryHost::new();
    let ctx = base_context();
    let typed = |t: &str| engine.render_typed(t, &ctx, &host);
    assert_eq!(
        typed("{{ inputs.columns_to_keep }}"),
        Ok(json!(["id", "name"]))
    );
    assert_eq!(typed("  {{ 1 + 2 }}\n"), Ok(json!(3)));
    assert_eq!(typed("{{ inputs.map }}"), Ok(json!({"b": 2, "a": 1})));
    assert_eq!(typed("{{ inputs.nothing }}"), Ok(Json::Null));
    assert_eq!(typed("{{ inputs.flag }}"), Ok(json!(true)));
    assert_eq!(typed("x {{ 1 }}"), Ok(json!("x 1")));
    assert_eq!(typed("plain"), Ok(json!("plain")));
}

#[test]
fn host_is_asked_once_per_distinct_call() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let out = engine.render(
        "{{ secret('API_TOKEN') }} {{ secret('API_TOKEN') }} {{ kv('KEY') }}",
        &base_context(),
        &MemoryHost::new(),
    );
    assert_eq!(out.as_deref(), Ok("tok-123 tok-123 team-value"));
}

#[test]
fn cache_eviction_keeps_rendering() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let host = MemoryHost::new();
    let ctx = base_context();
    for i in 0..(CACHE_CAPACITY + 10) {
        let out = engine.render(&format!("{{{{ {i} }}}}"), &ctx, &host);
        assert_eq!(out, Ok(i.to_string()));
    }
}

#[test]
fn output_references_are_found() {
    let refs = |s: &str| -> Vec<(String, u32, u32)> {
        output_references(s)
            .into_iter()
            .map(|r| (r.task_id, r.line, r.column))
            .collect()
    };
    assert_eq!(
        refs("{{ outputs.extract.uri }}"),
        vec![("extract".into(), 1, 4)]
    );
    assert_eq!(
        refs("a\n  {{outputs['task-id'].value}}"),
        vec![("task-id".into(), 2, 5)]
    );
    assert_eq!(
        refs("{{ x | default(outputs.a.b) }}{% if outputs.b is defined %}{% endif %}"),
        vec![("a".into(), 1, 16), ("b".into(), 1, 37)]
    );
    assert_eq!(
        refs("{{ outputs.t.files[outputs.k.name ~ 'x'] }}"),
        vec![("t".into(), 1, 4), ("k".into(), 1, 20)]
    );
    assert_eq!(refs("{{ 'outputs.x' ~ \"outputs['y']\" }}"), Vec::new());
    assert_eq!(refs("{{ vars.outputs.x }}"), Vec::new());
    assert_eq!(
        refs("outputs.x {# outputs.y #} {% raw %}{{ outputs.z }}{% endraw %}"),
        Vec::new()
    );
    assert_eq!(
        refs("{{ outputs.a.b }} {{ outputs.broken"),
        vec![("a".into(), 1, 4)]
    );
    assert_eq!(refs("{{ outputs[1] }}{{ outputs }}{{"), Vec::new());
}

#[test]
fn hostile_inputs_never_panic() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let host = MemoryHost::new();
    let ctx = base_context();
    let nasty = [
        "{{",
        "}}",
        "{%",
        "{#",
        "{{ '",
        "{{ \"\\",
        "{{ ((((((((",
        "{{ [[[[",
        "{{ {{ }} }}",
        "{{ é }}",
        "{{ 💥 }}",
        "{{ a..b..c }}",
        "{{ ?? }}",
        "{{ a ? }}",
        "{{ a ?? }}",
        "{% for %}",
        "{% for x in %}",
        "{% if %}",
        "{% endif %}",
        "{% set = 1 %}",
        "{{ 1 | }}",
        "{{ x | default( }}",
        "{{ now(, ) }}",
        "{{ .a }}",
        "{{ a. }}",
        "{{ 99999999999999999999999 }}",
        "{{ -9223372036854775808 / -1 }}",
        "{{ 'x' | jq('.[') }}",
        "{{ '{}' | jq('- - - - -') }}",
        "{{ 'a' | date('#') }}",
        "{% raw %}",
        "{{- -}}",
        "{{ inputs.who[0] }}",
        "{{ inputs.nums['x'] }}",
    ];
    for template in nasty {
        let _ = engine.render(template, &ctx, &host);
        let _ = engine.render_typed(template, &ctx, &host);
        let _ = engine.check(template);
        let _ = output_references(template);
    }
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(engine.render(&deep, &ctx, &host).is_err());
    let mut chars = String::new();
    for c in [
        '{', '}', '%', '#', '\'', '"', '(', '[', '|', '.', 'a', ' ', '?', '~', '-', 'é',
    ] {
        chars.push(c);
        for rotation in 0..chars.len() {
            let text: String = chars.chars().cycle().skip(rotation).take(24).collect();
            let _ = engine.render(&text, &ctx, &host);
            let _ = output_references(&text);
        }
    }
}

#[test]
fn render_value_errors_name_the_property_and_the_variable() {
    let engine = TemplateEngine::new(RenderLimits::default());
    let props = json!({
        "uri": "http://x/{{ inputs.day }}",
        "headers": {"Authorization": "Bearer {{ outputs.login.token }}"},
        "commands": ["echo ok", "echo {{ inputs.missing }}"],
    });
    let ctx = json!({"inputs": {"day": "mon"}, "outputs": {}});
    let err = engine
        .render_value(&props, &ctx, &MemoryHost::new())
        .unwrap_err();
    assert_eq!(err.property.as_deref(), Some("headers.Authorization"));
    assert_eq!(
        err.to_string(),
        "property 'headers.Authorization': variable 'outputs.login.token' is undefined"
    );
    let props = json!({"commands": ["echo ok", "echo {{ inputs.missing }}"]});
    let err = engine
        .render_value(&props, &ctx, &MemoryHost::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "property 'commands[1]': variable 'inputs.missing' is undefined"
    );
}
