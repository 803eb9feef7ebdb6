//! Outputs as a tree: objects and lists nest, scalars show as text, and internal-storage
//! URIs (`kestra://…`) become download links with the file's name.

use std::fmt::Write;

use serde_json::Value;

use super::highlight::escape;
use super::view::query_escape;

/// The HTML of `value` as a nested list; file URIs link to the execution's file endpoint.
pub fn tree(value: &Value, execution_id: &str) -> String {
    let mut out = String::new();
    node(&mut out, value, execution_id);
    out
}

fn node(out: &mut String, value: &Value, execution_id: &str) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str(r#"<ul class="tree-value">"#);
            for (key, child) in map {
                let _ = write!(out, r#"<li><span class="k">{}</span>: "#, escape(key));
                node(out, child, execution_id);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(r#"<ol class="tree-value" start="0">"#);
            for child in items {
                out.push_str("<li>");
                node(out, child, execution_id);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::String(text) if text.starts_with("kestra://") => {
            let name = text.rsplit('/').next().unwrap_or(text);
            let _ = write!(
                out,
                r#"<a class="file" href="/api/v1/executions/{}/file?path={}" download="{}">{}</a> <span class="muted mono">{}</span>"#,
                escape(execution_id),
                query_escape(text),
                escape(name),
                escape(name),
                escape(text)
            );
        }
        Value::String(text) if text.contains('\n') => {
            let _ = write!(out, "<pre>{}</pre>", escape(text));
        }
        Value::String(text) => {
            let _ = write!(out, r#"<span class="v-str">{}</span>"#, escape(text));
        }
        other => {
            let _ = write!(
                out,
                r#"<span class="v-lit">{}</span>"#,
                escape(&other.to_string())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_become_links_and_markup_is_escaped() {
        let html = tree(
            &json!({"uri": "kestra://ns/flow/exec/out.csv", "n": [1, "<b>"]}),
            "e1",
        );
        assert!(html.contains(
            r#"href="/api/v1/executions/e1/file?path=kestra%3A//ns/flow/exec/out.csv" download="out.csv">out.csv</a>"#
        ));
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains(r#"<span class="v-lit">1</span>"#));
    }
}
