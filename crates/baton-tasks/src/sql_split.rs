//! Reading a SQL script as Postgres (and DuckDB) read it, without parsing it: statements split at the
//! semicolons that are outside quotes, dollar quotes and comments, and Kestra's `:name`
//! parameters turned into `$n` placeholders.

/// One statement of a script: its text and where it starts in the script (in bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    pub text: &'a str,
    pub offset: usize,
}

/// The statements of `script`, without their semicolons; statements that hold only blanks and
/// comments are left out.
pub(crate) fn statements(script: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut push = |from: usize, to: usize| {
        let text = &script[from..to];
        if has_code(text) {
            let leading = text.len() - text.trim_start().len();
            out.push(Statement {
                text: text.trim(),
                offset: from + leading,
            });
        }
    };
    for token in tokens(script) {
        if let Token::Semicolon(at) = token {
            push(start, at);
            start = at + 1;
        }
    }
    push(start, script.len());
    out
}

/// `:name` placeholders (outside quotes and comments, and not `::` casts) replaced by `$1`,
/// `$2`… in order of appearance, a name used twice getting one number. Returns the new text and
/// the names by number.
pub(crate) fn named_parameters(sql: &str) -> (String, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut text = String::with_capacity(sql.len());
    let mut copied = 0;
    for token in tokens(sql) {
        if let Token::Parameter(at, len) = token {
            let name = &sql[at + 1..at + len];
            let number = match names.iter().position(|n| n == name) {
                Some(index) => index + 1,
                None => {
                    names.push(name.to_owned());
                    names.len()
                }
            };
            text.push_str(&sql[copied..at]);
            text.push_str(&format!("${number}"));
            copied = at + len;
        }
    }
    text.push_str(&sql[copied..]);
    (text, names)
}

/// True when the text holds something besides blanks and comments.
fn has_code(text: &str) -> bool {
    tokens(text).any(|t| matches!(t, Token::Code))
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// Anything that is not blank, a comment, a semicolon or a parameter.
    Code,
    Semicolon(usize),
    /// A `:name` at this byte offset, this many bytes long.
    Parameter(usize, usize),
}

fn tokens(sql: &str) -> impl Iterator<Item = Token> + '_ {
    let bytes = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            match c {
                b';' => {
                    i += 1;
                    return Some(Token::Semicolon(i - 1));
                }
                b'-' if next == Some(b'-') => {
                    i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                }
                b'/' if next == Some(b'*') => i = block_comment_end(bytes, i),
                b'\'' => {
                    // E'…' strings take backslash escapes; the E was seen as code already.
                    let escapes = i > 0 && matches!(bytes[i - 1], b'e' | b'E');
                    i = quoted_end(bytes, i, b'\'', escapes);
                    return Some(Token::Code);
                }
                b'"' => {
                    i = quoted_end(bytes, i, b'"', false);
                    return Some(Token::Code);
                }
                b'$' => {
                    i = match dollar_tag(sql, i) {
                        Some(tag) => sql[i + tag.len()..]
                            .find(tag)
                            .map_or(bytes.len(), |n| i + tag.len() + n + tag.len()),
                        None => i + 1,
                    };
                    return Some(Token::Code);
                }
                b':' if next == Some(b':') => {
                    i += 2;
                    return Some(Token::Code);
                }
                b':' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == b'_') => {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                    return Some(Token::Parameter(start, i - start));
                }
                c if c.is_ascii_whitespace() => i += 1,
                _ => {
                    i += 1;
                    return Some(Token::Code);
                }
            }
        }
        None
    })
}

/// The end of a quoted run starting at `start`; a doubled quote stays inside.
fn quoted_end(bytes: &[u8], start: usize, quote: u8, escapes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The end of a `/* … */` comment, which Postgres lets nest.
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `$tag$` or `$$` starting at `start`, when it is a dollar quote (not `$1`).
fn dollar_tag(sql: &str, start: usize) -> Option<&str> {
    let rest = &sql[start + 1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag
        .chars()
        .next()
        .is_none_or(|c| c.is_alphabetic() || c == '_')
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    valid.then(|| &sql[start..start + end + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<&str> {
        statements(script).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn semicolons_split_outside_quotes_comments_and_dollar_quotes() {
        assert_eq!(
            texts("CREATE TABLE t (a text);\nINSERT INTO t VALUES ('a;b'), (E'c\\';d');"),
            [
                "CREATE TABLE t (a text)",
                "INSERT INTO t VALUES ('a;b'), (E'c\\';d')"
            ]
        );
        assert_eq!(
            texts("SELECT 1 -- one; two\n; /* a /* nested; */ comment; */ SELECT \"x;y\" FROM t"),
            [
                "SELECT 1 -- one; two",
                "/* a /* nested; */ comment; */ SELECT \"x;y\" FROM t"
            ]
        );
        let function = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ \
                        LANGUAGE plpgsql";
        assert_eq!(
            texts(&format!("{function};SELECT $1;")),
            [function, "SELECT $1"]
        );
        assert_eq!(texts(" ;\n-- only a comment\n; "), Vec::<&str>::new());
        assert_eq!(texts("SELECT 'it''s;'"), ["SELECT 'it''s;'"]);
    }

    #[test]
    fn offsets_point_at_each_statement_in_the_script() {
        let script = "SELECT 1;\n\n  SELECT 2";
        let found = statements(script);
        assert_eq!(found[1].offset, 13);
        assert_eq!(&script[found[1].offset..], "SELECT 2");
    }

    #[test]
    fn named_parameters_become_numbered_placeholders() {
        let (text, names) =
            named_parameters("SELECT :a, ':b', x::int, :a_2 FROM t WHERE y = :a -- :c");
        assert_eq!(
            text,
            "SELECT $1, ':b', x::int, $2 FROM t WHERE y = $1 -- :c"
        );
        assert_eq!(names, ["a", "a_2"]);
    }
}
