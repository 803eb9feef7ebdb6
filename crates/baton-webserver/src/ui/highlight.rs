//! YAML source as HTML lines with highlighting: keys, comments, strings, numbers and
//! booleans, list dashes, and `{{ }}` templates inside values. Line by line and forgiving:
//! it colours what a reader scans for and never fails, whatever the text (a flow that does not
//! parse is shown too).

/// One line of highlighted source: its 1-based number and its HTML (already escaped).
pub struct Line {
    pub number: usize,
    pub html: String,
    /// The line has an error (the page marks it).
    pub flagged: bool,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn span(class: &str, text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    format!(r#"<span class="{class}">{}</span>"#, escape(text))
}

/// Every line of `source`, highlighted; lines in `flagged` (1-based) are marked.
pub fn lines(source: &str, flagged: &[usize]) -> Vec<Line> {
    let mut block_indent: Option<usize> = None;
    source
        .lines()
        .enumerate()
        .map(|(index, text)| {
            let indent = text.len() - text.trim_start().len();
            // Inside a block scalar (`key: |`), lines more indented than its key are text.
            let html = match block_indent {
                Some(key_indent) if indent > key_indent || text.trim().is_empty() => {
                    value_html(text)
                }
                _ => {
                    block_indent = None;
                    let (html, opens_block) = line_html(text);
                    if opens_block {
                        block_indent = Some(indent);
                    }
                    html
                }
            };
            Line {
                number: index + 1,
                html,
                flagged: flagged.contains(&(index + 1)),
            }
        })
        .collect()
}

/// One ordinary line; also says whether it opens a block scalar (`|` or `>`).
fn line_html(text: &str) -> (String, bool) {
    let indent = &text[..text.len() - text.trim_start().len()];
    let mut rest = &text[indent.len()..];
    let mut html = escape(indent);
    if rest.starts_with('#') {
        return (html + &span("cm", rest), false);
    }
    if rest == "---" || rest == "..." {
        return (html + &span("mk", rest), false);
    }
    while let Some(after) = rest
        .strip_prefix("- ")
        .or(if rest == "-" { Some("") } else { None })
    {
        html.push_str(&span("mk", "-"));
        html.push(' ');
        rest = after.trim_start_matches(' ');
        html.push_str(&" ".repeat(after.len() - rest.len()));
    }
    let (content, comment) = split_comment(rest);
    let trailing = &rest[content.len()..rest.len() - comment.len()];
    let mut opens_block = false;
    match key_split(content) {
        Some((key, value)) => {
            html.push_str(&span("key", key));
            html.push_str(&span("mk", ":"));
            let trimmed = value.trim();
            opens_block = trimmed.starts_with('|') || trimmed.starts_with('>');
            html.push_str(&value_html(value));
        }
        None => html.push_str(&value_html(content)),
    }
    html.push_str(&escape(trailing));
    html.push_str(&span("cm", comment));
    (html, opens_block)
}

/// A `key:` at the start of `content`: the key and what follows the colon.
fn key_split(content: &str) -> Option<(&str, &str)> {
    let bytes = content.as_bytes();
    let first = *bytes.first()?;
    if matches!(first, b'"' | b'\'' | b'{' | b'[' | b'|' | b'>') {
        return None;
    }
    let colon = content
        .char_indices()
        .find(|&(i, c)| c == ':' && matches!(bytes.get(i + 1), None | Some(b' ')))?
        .0;
    let key = &content[..colon];
    (!key.contains("{{")).then_some((key, &content[colon + 1..]))
}

/// A ` #` comment outside quotes, and the text before it.
fn split_comment(text: &str) -> (&str, &str) {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous == ' ' => {
                let content = text[..i].trim_end();
                return (content, &text[i..]);
            }
            None => {}
        }
        previous = c;
    }
    (text, "")
}

/// A value: templates stand out wherever they are; a whole scalar gets its type's colour.
fn value_html(value: &str) -> String {
    let lead = &value[..value.len() - value.trim_start().len()];
    let value = &value[lead.len()..];
    let trimmed = value.trim();
    let class = if trimmed.starts_with('"') || trimmed.starts_with('\'') {
        "str"
    } else if trimmed.parse::<f64>().is_ok() {
        "num"
    } else if matches!(
        trimmed,
        "true" | "false" | "null" | "~" | "|" | ">" | "|-" | ">-"
    ) {
        "kw"
    } else {
        ""
    };
    let mut html = escape(lead);
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |e| start + e + 2);
        html.push_str(&plain(class, &rest[..start]));
        html.push_str(&span("tpl", &rest[start..end]));
        rest = &rest[end..];
    }
    html.push_str(&plain(class, rest));
    html
}

fn plain(class: &str, text: &str) -> String {
    if class.is_empty() {
        escape(text)
    } else {
        span(class, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        lines(text, &[]).remove(0).html
    }

    #[test]
    fn keys_values_comments_and_templates_are_marked() {
        assert_eq!(
            one("  - id: hello # first"),
            r#"  <span class="mk">-</span> <span class="key">id</span><span class="mk">:</span> hello <span class="cm"># first</span>"#
        );
        assert_eq!(
            one(r#"message: "hi {{ inputs.who }}""#),
            r#"<span class="key">message</span><span class="mk">:</span> <span class="str">&quot;hi </span><span class="tpl">{{ inputs.who }}</span><span class="str">&quot;</span>"#
        );
        assert_eq!(
            one("retries: 3"),
            r#"<span class="key">retries</span><span class="mk">:</span> <span class="num">3</span>"#
        );
        assert_eq!(
            one("url: http://x/#frag"),
            r#"<span class="key">url</span><span class="mk">:</span> http://x/#frag"#
        );
    }

    #[test]
    fn block_scalars_are_text_and_errors_are_flagged() {
        let lines = lines("script: |\n  a: b\n  # not a comment\nnext: 1\n", &[2]);
        assert_eq!(lines[1].html, "  a: b");
        assert_eq!(lines[2].html, "  # not a comment");
        assert!(lines[3].html.contains(r#"class="key">next"#));
        assert!(lines[1].flagged && !lines[0].flagged);
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn markup_in_the_source_is_escaped() {
        assert_eq!(one("<b>&"), "&lt;b&gt;&amp;");
    }
}
