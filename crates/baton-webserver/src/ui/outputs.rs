//! Outputs as a tree: objects and lists nest, scalars show as text, and internal-storage
//! URIs (`kestra://…`) become download links with the file's name and size.

use std::collections::HashMap;
use std::fmt::Write;

use baton_storage::{Storage, StorageUri};
use serde_json::Value;

use super::highlight::escape;
use super::view::query_escape;

/// Sizes in bytes of files that outputs name, by URI; a file missing from it (deleted,
/// purged, or no storage) shows no size.
pub type FileSizes = HashMap<String, u64>;

/// At most this many files of one page are looked up, so a ForEach over thousands of files
/// does not turn one page view into thousands of storage calls.
const MAX_SIZED_FILES: usize = 200;

/// The sizes of the internal-storage files that `values` name.
pub async fn file_sizes<'a>(
    storage: Option<&Storage>,
    values: impl IntoIterator<Item = &'a Value>,
) -> FileSizes {
    let mut sizes = FileSizes::new();
    let Some(storage) = storage else {
        return sizes;
    };
    let mut uris = Vec::new();
    for value in values {
        collect_uris(value, &mut uris);
    }
    for text in uris.into_iter().take(MAX_SIZED_FILES) {
        if sizes.contains_key(&text) {
            continue;
        }
        if let Ok(uri) = StorageUri::parse(&text)
            && let Ok(size) = storage.size(&uri).await
        {
            sizes.insert(text, size);
        }
    }
    sizes
}

fn collect_uris(value: &Value, uris: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| collect_uris(v, uris)),
        Value::Array(items) => items.iter().for_each(|v| collect_uris(v, uris)),
        Value::String(text) if text.starts_with("kestra://") => uris.push(text.clone()),
        _ => {}
    }
}

/// A byte count as a person reads it: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The HTML of `value` as a nested list; file URIs link to the execution's file endpoint,
/// with their size when `sizes` knows it.
pub fn tree(value: &Value, execution_id: &str, sizes: &FileSizes) -> String {
    let mut out = String::new();
    node(&mut out, value, execution_id, sizes);
    out
}

fn node(out: &mut String, value: &Value, execution_id: &str, sizes: &FileSizes) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str(r#"<ul class="tree-value">"#);
            for (key, child) in map {
                let _ = write!(out, r#"<li><span class="k">{}</span>: "#, escape(key));
                node(out, child, execution_id, sizes);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(r#"<ol class="tree-value" start="0">"#);
            for child in items {
                out.push_str("<li>");
                node(out, child, execution_id, sizes);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::String(text) if text.starts_with("kestra://") => {
            let name = text.rsplit('/').next().unwrap_or(text);
            let _ = write!(
                out,
                r#"<a class="file" href="/api/v1/executions/{}/file?path={}" download="{}">{}</a>"#,
                escape(execution_id),
                query_escape(text),
                escape(name),
                escape(name),
            );
            if let Some(size) = sizes.get(text) {
                let _ = write!(
                    out,
                    r#" <span class="file-size" data-bytes="{size}">{}</span>"#,
                    size_text(*size)
                );
            }
            let _ = write!(out, r#" <span class="muted mono">{}</span>"#, escape(text));
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
        let sizes = FileSizes::from([("kestra://ns/flow/exec/out.csv".to_owned(), 1536)]);
        let html = tree(
            &json!({"uri": "kestra://ns/flow/exec/out.csv", "n": [1, "<b>"], "gone": "kestra://ns/flow/exec/gone.csv"}),
            "e1",
            &sizes,
        );
        assert!(html.contains(
            r#"href="/api/v1/executions/e1/file?path=kestra%3A//ns/flow/exec/out.csv" download="out.csv">out.csv</a> <span class="file-size" data-bytes="1536">1.5 KiB</span>"#
        ));
        assert!(html.contains(r#"download="gone.csv">gone.csv</a> <span class="muted mono">"#));
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains(r#"<span class="v-lit">1</span>"#));
    }

    #[test]
    fn sizes_read_as_a_person_reads_them() {
        assert_eq!(size_text(0), "0 B");
        assert_eq!(size_text(1023), "1023 B");
        assert_eq!(size_text(1024), "1.0 KiB");
        assert_eq!(size_text(5 * 1024 * 1024 + 1), "5.0 MiB");
    }

    #[test]
    fn uris_are_found_at_any_depth() {
        let mut uris = Vec::new();
        collect_uris(
            &json!({"a": {"b": ["kestra://x/1", 2]}, "c": "kestra://x/2", "d": "http://x"}),
            &mut uris,
        );
        assert_eq!(uris, ["kestra://x/1", "kestra://x/2"]);
    }
}
