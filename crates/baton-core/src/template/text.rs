//! String filters: case, trimming, substrings, replacing, splitting, encodings, slugs.

use minijinja::Error;
use minijinja::value::Value;

use super::filters::{filter_error, int_arg};
use super::functions::{arg, str_arg};
use super::runtime::{describe, display, f64_if_float};

/// Applies `f` to a string input; null stays null, other scalars are stringified first.
fn map_str(input: &Value, filter: &str, f: impl FnOnce(&str) -> String) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(Value::from(()));
    }
    match input.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => Err(filter_error(
            filter,
            format_args!("needs a string, got {}", describe(input)),
        )),
        _ => Ok(Value::from(f(&display(input)))),
    }
}

fn required<'a>(
    args: &'a [Value],
    index: usize,
    filter: &str,
    param: &str,
) -> Result<&'a str, Error> {
    str_arg(args, index, &format!("filter '{filter}'"), param)?
        .ok_or_else(|| filter_error(filter, format_args!("missing argument '{param}'")))
}

pub(crate) fn upper(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "upper", str::to_uppercase)
}

pub(crate) fn lower(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "lower", str::to_lowercase)
}

pub(crate) fn trim(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "trim", |s| s.trim().to_string())
}

pub(crate) fn capitalize(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "capitalize", |s| {
        let mut chars = s.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    })
}

pub(crate) fn title(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "title", |s| {
        let mut out = String::with_capacity(s.len());
        let mut start_of_word = true;
        for c in s.chars() {
            if start_of_word {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            start_of_word = c.is_whitespace();
        }
        out
    })
}

pub(crate) fn abbreviate(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let width = int_arg(args, 0, "abbreviate", "length")?.unwrap_or(0);
    let width = usize::try_from(width).unwrap_or(0);
    map_str(input, "abbreviate", |s| {
        if s.chars().count() <= width {
            s.to_string()
        } else if width <= 3 {
            s.chars().take(width).collect()
        } else {
            s.chars().take(width - 3).chain("...".chars()).collect()
        }
    })
}

pub(crate) fn starts_with(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let prefix = required(args, 0, "startsWith", "value")?;
    Ok(Value::from(display(input).starts_with(prefix)))
}

pub(crate) fn ends_with(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let suffix = required(args, 0, "endsWith", "value")?;
    Ok(Value::from(display(input).ends_with(suffix)))
}

pub(crate) fn substring_before(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let sep = required(args, 0, "substringBefore", "separator")?;
    map_str(input, "substringBefore", |s| {
        s.find(sep).map_or(s, |i| &s[..i]).to_string()
    })
}

pub(crate) fn substring_before_last(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let sep = required(args, 0, "substringBeforeLast", "separator")?;
    map_str(input, "substringBeforeLast", |s| {
        s.rfind(sep).map_or(s, |i| &s[..i]).to_string()
    })
}

pub(crate) fn substring_after(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let sep = required(args, 0, "substringAfter", "separator")?;
    map_str(input, "substringAfter", |s| {
        s.find(sep).map_or("", |i| &s[i + sep.len()..]).to_string()
    })
}

pub(crate) fn substring_after_last(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let sep = required(args, 0, "substringAfterLast", "separator")?;
    map_str(input, "substringAfterLast", |s| {
        s.rfind(sep).map_or("", |i| &s[i + sep.len()..]).to_string()
    })
}

/// Pebble's `replace({'from': 'to', …})`; `replace('from', 'to')` is accepted too, and
/// Kestra's `regexp=true` treats the keys as regular expressions.
pub(crate) fn replace(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let pairs = arg(args, 0).cloned().unwrap_or(Value::from(()));
    let mut replacements: Vec<(String, String)> = Vec::new();
    match (pairs.as_str(), arg(args, 1)) {
        (Some(from), Some(to)) if to.as_str().is_some() => {
            replacements.push((from.to_string(), display(to)));
        }
        _ if pairs.kind() == minijinja::value::ValueKind::Map => {
            for key in pairs.try_iter()? {
                let value = pairs.get_item(&key)?;
                replacements.push((display(&key), display(&value)));
            }
        }
        _ => {
            return Err(filter_error(
                "replace",
                "needs a map of replacements like {'a': 'b'}",
            ));
        }
    }
    let regexp =
        arg(args, 1).is_some_and(|v| v.kind() == minijinja::value::ValueKind::Bool && v.is_true());
    let mut text = display(input);
    for (from, to) in replacements {
        text = if regexp {
            let re = regex::Regex::new(&from).map_err(|e| filter_error("replace", e))?;
            re.replace_all(&text, to.as_str()).into_owned()
        } else {
            text.replace(&from, &to)
        };
    }
    Ok(Value::from(text))
}

pub(crate) fn regex_match(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let re = regex(args, "regexMatch")?;
    Ok(Value::from(re.is_match(&display(input))))
}

pub(crate) fn regex_replace(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let re = regex(args, "regexReplace")?;
    let replacement = str_arg(args, 1, "filter 'regexReplace'", "replacement")?.unwrap_or("");
    Ok(Value::from(
        re.replace_all(&display(input), replacement).into_owned(),
    ))
}

pub(crate) fn regex_extract(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let re = regex(args, "regexExtract")?;
    let group =
        usize::try_from(int_arg(args, 1, "regexExtract", "group")?.unwrap_or(0)).unwrap_or(0);
    let text = display(input);
    Ok(re
        .captures(&text)
        .and_then(|c| c.get(group))
        .map_or(Value::from(()), |m| Value::from(m.as_str())))
}

fn regex(args: &[Value], filter: &str) -> Result<regex::Regex, Error> {
    let pattern = required(args, 0, filter, "regex")?;
    regex::Regex::new(pattern).map_err(|e| filter_error(filter, e))
}

/// Splits on a literal delimiter; like Java, trailing empty parts are dropped unless a limit
/// is given.
pub(crate) fn split(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(Value::from(()));
    }
    let delimiter = required(args, 0, "split", "delimiter")?;
    let limit = int_arg(args, 1, "split", "limit")?.filter(|l| *l > 0);
    let text = display(input);
    let mut parts: Vec<String> = match (delimiter.is_empty(), limit) {
        (true, _) => text.chars().map(String::from).collect(),
        (false, Some(limit)) => text
            .splitn(usize::try_from(limit).unwrap_or(usize::MAX), delimiter)
            .map(String::from)
            .collect(),
        (false, None) => text.split(delimiter).map(String::from).collect(),
    };
    if limit.is_none() {
        while parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
    }
    Ok(Value::from(parts))
}

pub(crate) fn indent(input: &Value, args: &[Value]) -> Result<Value, Error> {
    indent_lines(input, args, "indent", false)
}

pub(crate) fn nindent(input: &Value, args: &[Value]) -> Result<Value, Error> {
    indent_lines(input, args, "nindent", true)
}

/// `indent` prefixes every line but the first; `nindent` starts with a newline and prefixes
/// every line.
fn indent_lines(
    input: &Value,
    args: &[Value],
    filter: &str,
    newline: bool,
) -> Result<Value, Error> {
    let amount = usize::try_from(int_arg(args, 0, filter, "amount")?.unwrap_or(0)).unwrap_or(0);
    let unit = str_arg(args, 1, &format!("filter '{filter}'"), "prefix")?.unwrap_or(" ");
    let prefix = unit.repeat(amount.min(1_000));
    map_str(input, filter, |s| {
        let mut out = String::new();
        if newline {
            out.push('\n');
        }
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if (i > 0 || newline) && !line.is_empty() {
                out.push_str(&prefix);
            }
            out.push_str(line);
        }
        out
    })
}

pub(crate) fn escape_char(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let kind = str_arg(args, 0, "filter 'escapeChar'", "type")?.unwrap_or("single");
    let (from, to) = match kind {
        "single" => ("'", "\\'"),
        "double" => ("\"", "\\\""),
        "shell" => ("'", "'\\''"),
        other => {
            return Err(filter_error(
                "escapeChar",
                format_args!("unknown type '{other}'; expected single, double or shell"),
            ));
        }
    };
    map_str(input, "escapeChar", |s| s.replace(from, to))
}

pub(crate) fn slugify(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "slugify", |s| {
        let mut out = String::new();
        for c in s.to_lowercase().chars() {
            let ascii = match c {
                'à'..='å' => "a",
                'ç' => "c",
                'è'..='ë' => "e",
                'ì'..='ï' => "i",
                'ñ' => "n",
                'ò'..='ö' | 'ø' => "o",
                'ù'..='ü' => "u",
                'ý' | 'ÿ' => "y",
                'ß' => "ss",
                c if c.is_ascii_alphanumeric() => {
                    out.push(c);
                    continue;
                }
                _ => "-",
            };
            if ascii == "-" && (out.is_empty() || out.ends_with('-')) {
                continue;
            }
            out.push_str(ascii);
        }
        out.trim_end_matches('-').to_string()
    })
}

/// Java's `URLEncoder`: letters, digits and `.-*_` stay, space becomes `+`.
pub(crate) fn url_encode(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "urlencode", |s| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        out
    })
}

pub(crate) fn url_decode(input: &Value, _: &[Value]) -> Result<Value, Error> {
    let text = display(input);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| filter_error("urldecode", "invalid percent escape"))?;
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Ok(Value::from(String::from_utf8_lossy(&out).into_owned()))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(input: &Value, _: &[Value]) -> Result<Value, Error> {
    map_str(input, "base64encode", |s| {
        let mut out = String::new();
        for chunk in s.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    })
}

pub(crate) fn base64_decode(input: &Value, _: &[Value]) -> Result<Value, Error> {
    let text = display(input);
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(filter_error("base64decode", "input is not valid base64")),
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xFF) as u8);
        }
    }
    Ok(Value::from(String::from_utf8_lossy(&out).into_owned()))
}

/// Java `DecimalFormat` basics: `0` required digits, `#` optional digits, `,` grouping.
pub(crate) fn number_format(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let pattern = required(args, 0, "numberformat", "format")?;
    let number = f64_if_float(input)
        .or_else(|| input.as_i64().map(|i| i as f64))
        .or_else(|| display(input).trim().parse().ok())
        .ok_or_else(|| {
            filter_error(
                "numberformat",
                format_args!("needs a number, got {}", describe(input)),
            )
        })?;
    let (int_pattern, frac_pattern) = pattern.split_once('.').unwrap_or((pattern, ""));
    let min_frac = frac_pattern.chars().filter(|c| *c == '0').count();
    let max_frac = min_frac + frac_pattern.chars().filter(|c| *c == '#').count();
    let mut text = format!("{:.*}", max_frac, number.abs());
    if let Some(dot) = text.find('.') {
        let keep = text.len() - (max_frac - min_frac);
        while text.len() > keep.max(dot + 1 + min_frac) && text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    let (int_part, frac_part) = text
        .split_once('.')
        .map_or((text.as_str(), ""), |(a, b)| (a, b));
    let min_int = int_pattern.chars().filter(|c| *c == '0').count();
    let mut int_digits = format!("{int_part:0>min_int$}");
    if int_digits == "0" && min_int == 0 && !frac_part.is_empty() {
        int_digits.clear();
    }
    if let Some(group) = int_pattern
        .rfind(',')
        .map(|i| int_pattern.len() - i - 1)
        .filter(|g| *g > 0)
    {
        let digits: Vec<char> = int_digits.chars().collect();
        let mut grouped = String::new();
        for (i, c) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(group) {
                grouped.push(',');
            }
            grouped.push(*c);
        }
        int_digits = grouped;
    }
    let sign = if number < 0.0 { "-" } else { "" };
    let out = if frac_part.is_empty() {
        format!("{sign}{int_digits}")
    } else {
        format!("{sign}{int_digits}.{frac_part}")
    };
    Ok(Value::from(out))
}
