//! jq's builtin functions supported by the `jq` filter.

use serde_json::{Map, Value as Json};

use super::jq::{Expr, compare, eval, number, truthy, type_name};

pub(super) fn call(
    name: &str,
    args: &[Expr],
    input: &Json,
    budget: &mut usize,
) -> Result<Vec<Json>, String> {
    let arity = args.len();
    let one = |v: Json| Ok(vec![v]);
    match (name, arity) {
        ("empty", 0) => Ok(Vec::new()),
        ("not", 0) => one(Json::Bool(!truthy(input))),
        ("length", 0) => one(match input {
            Json::Null => Json::from(0),
            Json::Bool(_) => return Err("boolean has no length".to_string()),
            Json::Number(n) => number(n.as_f64().unwrap_or(0.0).abs()),
            Json::String(s) => Json::from(s.chars().count()),
            Json::Array(a) => Json::from(a.len()),
            Json::Object(o) => Json::from(o.len()),
        }),
        ("keys" | "keys_unsorted", 0) => one(match input {
            Json::Object(o) => {
                let mut keys: Vec<String> = o.keys().cloned().collect();
                if name == "keys" {
                    keys.sort();
                }
                Json::from(keys)
            }
            Json::Array(a) => Json::from((0..a.len()).collect::<Vec<_>>()),
            other => return Err(format!("{} has no keys", type_name(other))),
        }),
        ("values", 0) => Ok(if input.is_null() {
            Vec::new()
        } else {
            vec![input.clone()]
        }),
        ("type", 0) => one(Json::from(type_name(input))),
        ("tostring", 0) => one(match input {
            Json::String(_) => input.clone(),
            other => Json::String(other.to_string()),
        }),
        ("tojson", 0) => one(Json::String(input.to_string())),
        ("fromjson", 0) => match input {
            Json::String(s) => serde_json::from_str(s)
                .map(|v| vec![v])
                .map_err(|e| e.to_string()),
            other => Err(format!("fromjson needs a string, got {}", type_name(other))),
        },
        ("tonumber", 0) => one(match input {
            Json::Number(_) => input.clone(),
            Json::String(s) => s
                .trim()
                .parse::<f64>()
                .map(number)
                .map_err(|_| format!("cannot parse '{s}' as a number"))?,
            other => return Err(format!("{} cannot be parsed as a number", type_name(other))),
        }),
        ("ascii_downcase", 0) => string_op(input, |s| s.to_ascii_lowercase()),
        ("ascii_upcase", 0) => string_op(input, |s| s.to_ascii_uppercase()),
        ("reverse", 0) => one(match input {
            Json::Array(a) => Json::Array(a.iter().rev().cloned().collect()),
            Json::String(s) => Json::String(s.chars().rev().collect()),
            Json::Null => Json::Array(Vec::new()),
            other => return Err(format!("cannot reverse {}", type_name(other))),
        }),
        ("sort", 0) => {
            let mut items = array(input, name)?.clone();
            items.sort_by(compare);
            one(Json::Array(items))
        }
        ("unique", 0) => {
            let mut items = array(input, name)?.clone();
            items.sort_by(compare);
            items.dedup_by(|a, b| compare(a, b).is_eq());
            one(Json::Array(items))
        }
        ("min" | "max", 0) => {
            let items = array(input, name)?;
            let pick = if name == "min" {
                items.iter().min_by(|a, b| compare(a, b))
            } else {
                items.iter().max_by(|a, b| compare(a, b))
            };
            one(pick.cloned().unwrap_or(Json::Null))
        }
        ("add", 0) => {
            let mut total = Json::Null;
            for item in array(input, name)? {
                total = add(&total, item)?;
            }
            one(total)
        }
        ("flatten", 0) => {
            let mut out = Vec::new();
            for item in array(input, name)? {
                match item {
                    Json::Array(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            one(Json::Array(out))
        }
        ("first", 0) => one(array(input, name)?.first().cloned().unwrap_or(Json::Null)),
        ("last", 0) => one(array(input, name)?.last().cloned().unwrap_or(Json::Null)),
        ("first", 1) => Ok(eval(&args[0], input, budget)?.into_iter().take(1).collect()),
        ("last", 1) => Ok(eval(&args[0], input, budget)?.pop().into_iter().collect()),
        ("to_entries", 0) => match input {
            Json::Object(o) => one(Json::Array(
                o.iter()
                    .map(|(k, v)| {
                        let mut entry = Map::new();
                        entry.insert("key".into(), Json::String(k.clone()));
                        entry.insert("value".into(), v.clone());
                        Json::Object(entry)
                    })
                    .collect(),
            )),
            other => Err(format!(
                "to_entries needs an object, got {}",
                type_name(other)
            )),
        },
        ("from_entries", 0) => {
            let mut out = Map::new();
            for entry in array(input, name)? {
                let key = ["key", "k", "name", "Name", "Key"]
                    .iter()
                    .find_map(|k| entry.get(k))
                    .map(|k| match k {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .ok_or("from_entries needs entries with a key")?;
                let value = ["value", "v", "Value"]
                    .iter()
                    .find_map(|k| entry.get(k))
                    .cloned()
                    .unwrap_or(Json::Null);
                out.insert(key, value);
            }
            one(Json::Object(out))
        }
        ("join", 1) => {
            let mut out = Vec::new();
            for separator in eval(&args[0], input, budget)? {
                let separator = separator
                    .as_str()
                    .ok_or("join needs a string separator")?
                    .to_string();
                let parts: Vec<String> = array(input, name)?
                    .iter()
                    .map(|v| match v {
                        Json::String(s) => s.clone(),
                        Json::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push(Json::String(parts.join(&separator)));
            }
            Ok(out)
        }
        ("split", 1) => {
            let text = input.as_str().ok_or("split needs a string input")?;
            let mut out = Vec::new();
            for separator in eval(&args[0], input, budget)? {
                let separator = separator.as_str().ok_or("split needs a string separator")?;
                out.push(Json::from(text.split(separator).collect::<Vec<_>>()));
            }
            Ok(out)
        }
        ("has", 1) => {
            let mut out = Vec::new();
            for key in eval(&args[0], input, budget)? {
                out.push(Json::Bool(match (input, &key) {
                    (Json::Object(o), Json::String(k)) => o.contains_key(k),
                    (Json::Array(a), Json::Number(n)) => {
                        n.as_u64().is_some_and(|i| (i as usize) < a.len())
                    }
                    _ => return Err("has() needs an object key or array index".to_string()),
                }));
            }
            Ok(out)
        }
        ("startswith" | "endswith" | "ltrimstr" | "rtrimstr" | "test" | "contains", 1) => {
            let mut out = Vec::new();
            for arg in eval(&args[0], input, budget)? {
                out.push(string_predicate(name, input, &arg)?);
            }
            Ok(out)
        }
        ("select", 1) => {
            let keep = eval(&args[0], input, budget)?.iter().any(truthy);
            Ok(if keep {
                vec![input.clone()]
            } else {
                Vec::new()
            })
        }
        ("map", 1) => {
            let mut out = Vec::new();
            for item in iterate(input)? {
                out.extend(eval(&args[0], &item, budget)?);
            }
            one(Json::Array(out))
        }
        ("map_values", 1) => match input {
            Json::Object(o) => {
                let mut out = Map::new();
                for (k, v) in o {
                    if let Some(first) = eval(&args[0], v, budget)?.into_iter().next() {
                        out.insert(k.clone(), first);
                    }
                }
                one(Json::Object(out))
            }
            _ => call("map", args, input, budget),
        },
        ("sort_by" | "group_by" | "unique_by" | "min_by" | "max_by", 1) => {
            let mut keyed = Vec::new();
            for item in array(input, name)? {
                keyed.push((Json::Array(eval(&args[0], item, budget)?), item.clone()));
            }
            keyed.sort_by(|a, b| compare(&a.0, &b.0));
            one(match name {
                "sort_by" => Json::Array(keyed.into_iter().map(|(_, v)| v).collect()),
                "min_by" => keyed.first().map_or(Json::Null, |(_, v)| v.clone()),
                "max_by" => keyed.last().map_or(Json::Null, |(_, v)| v.clone()),
                _ => {
                    let mut groups: Vec<(Json, Vec<Json>)> = Vec::new();
                    for (key, value) in keyed {
                        match groups.last_mut() {
                            Some((k, group)) if compare(k, &key).is_eq() => group.push(value),
                            _ => groups.push((key, vec![value])),
                        }
                    }
                    if name == "unique_by" {
                        Json::Array(
                            groups
                                .into_iter()
                                .filter_map(|(_, g)| g.into_iter().next())
                                .collect(),
                        )
                    } else {
                        Json::Array(groups.into_iter().map(|(_, g)| Json::Array(g)).collect())
                    }
                }
            })
        }
        ("any" | "all", 0) => {
            let items = array(input, name)?;
            one(Json::Bool(if name == "any" {
                items.iter().any(truthy)
            } else {
                items.iter().all(truthy)
            }))
        }
        _ => Err(format!("unsupported jq function {name}/{arity}")),
    }
}

fn array<'a>(input: &'a Json, name: &str) -> Result<&'a Vec<Json>, String> {
    match input {
        Json::Array(items) => Ok(items),
        other => Err(format!("{name} needs an array, got {}", type_name(other))),
    }
}

fn iterate(input: &Json) -> Result<Vec<Json>, String> {
    match input {
        Json::Array(items) => Ok(items.clone()),
        Json::Object(map) => Ok(map.values().cloned().collect()),
        other => Err(format!("cannot iterate over {}", type_name(other))),
    }
}

fn string_op(input: &Json, f: impl Fn(&str) -> String) -> Result<Vec<Json>, String> {
    match input {
        Json::String(s) => Ok(vec![Json::String(f(s))]),
        other => Err(format!("expected a string, got {}", type_name(other))),
    }
}

fn string_predicate(name: &str, input: &Json, arg: &Json) -> Result<Json, String> {
    if name == "contains" && !input.is_string() {
        return Ok(Json::Bool(match (input, arg) {
            (Json::Array(a), Json::Array(b)) => b.iter().all(|x| a.contains(x)),
            (a, b) => a == b,
        }));
    }
    let (Some(text), Some(arg)) = (input.as_str(), arg.as_str()) else {
        return Err(format!("{name} needs strings"));
    };
    Ok(match name {
        "startswith" => Json::Bool(text.starts_with(arg)),
        "endswith" => Json::Bool(text.ends_with(arg)),
        "ltrimstr" => Json::String(text.strip_prefix(arg).unwrap_or(text).to_string()),
        "rtrimstr" => Json::String(text.strip_suffix(arg).unwrap_or(text).to_string()),
        "contains" => Json::Bool(text.contains(arg)),
        _ => Json::Bool(
            regex::Regex::new(arg)
                .map_err(|e| e.to_string())?
                .is_match(text),
        ),
    })
}

fn add(total: &Json, item: &Json) -> Result<Json, String> {
    Ok(match (total, item) {
        (Json::Null, other) | (other, Json::Null) => other.clone(),
        (Json::Number(a), Json::Number(b)) => {
            number(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
        }
        (Json::String(a), Json::String(b)) => Json::String(format!("{a}{b}")),
        (Json::Array(a), Json::Array(b)) => Json::Array(a.iter().chain(b).cloned().collect()),
        (Json::Object(a), Json::Object(b)) => {
            let mut merged = a.clone();
            merged.extend(b.clone());
            Json::Object(merged)
        }
        (a, b) => return Err(format!("cannot add {} and {}", type_name(a), type_name(b))),
    })
}
