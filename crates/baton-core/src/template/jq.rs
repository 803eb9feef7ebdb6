//! A subset of jq for Kestra's `jq` filter: paths (`.a.b`, `.["k"]`, `.[0]`, `.[]`, `?`),
//! pipes, `,`, `//`, comparisons, `and`/`or`, arithmetic, array and object construction, and
//! the common builtins (`length`, `keys`, `map`, `select`, `first`, `add`, `sort_by`, …).
//! Like Kestra, the filter always returns the list of all outputs.

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Identity,
    Literal(Json),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Iterate(Box<Expr>),
    Try(Box<Expr>),
    Pipe(Box<Expr>, Box<Expr>),
    Comma(Box<Expr>, Box<Expr>),
    Binary(String, Box<Expr>, Box<Expr>),
    Array(Option<Box<Expr>>),
    Object(Vec<(Expr, Expr)>),
    Call(String, Vec<Expr>),
}

/// Runs `program` on `input`, returning every output.
pub(crate) fn run(program: &str, input: &Json) -> Result<Vec<Json>, String> {
    let tokens = tokenize(program)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = parser.pipe()?;
    if parser.pos < parser.tokens.len() {
        return Err(format!(
            "unexpected '{}' in jq expression",
            parser.tokens[parser.pos]
        ));
    }
    let mut budget = 1_000_000usize;
    eval(&expr, input, &mut budget)
}

fn tokenize(src: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut s = String::from("\"");
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    s.push(chars[i]);
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string in jq expression".to_string());
            }
            s.push('"');
            i += 1;
            tokens.push(s);
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == '.' && c.is_ascii_digit()))
            {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["==", "!=", "<=", ">=", "//"].contains(&two.as_str()) {
                tokens.push(two);
                i += 2;
            } else {
                tokens.push(c.to_string());
                i += 1;
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
    depth: u32,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn eat(&mut self, token: &str) -> bool {
        let hit = self.peek() == Some(token);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!(
                "expected '{token}' in jq expression, found {}",
                self.peek()
                    .map_or("the end".to_string(), |t| format!("'{t}'"))
            ))
        }
    }

    fn pipe(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("jq expression is nested too deeply".to_string());
        }
        let mut left = self.comma()?;
        while self.eat("|") {
            let right = self.comma()?;
            left = Expr::Pipe(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn comma(&mut self) -> Result<Expr, String> {
        let mut left = self.binary(0)?;
        while self.eat(",") {
            let right = self.binary(0)?;
            left = Expr::Comma(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: &[&[&str]] = &[
            &["//"],
            &["or"],
            &["and"],
            &["==", "!=", "<", "<=", ">", ">="],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.postfix();
        };
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek().filter(|t| ops.contains(t)).map(str::to_string) {
            self.pos += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut expr = self.primary()?;
        loop {
            if self.eat("?") {
                expr = Expr::Try(Box::new(expr));
            } else if self.peek() == Some(".")
                && self
                    .tokens
                    .get(self.pos + 1)
                    .is_some_and(|t| is_key(t) || t == "[")
            {
                self.pos += 1;
                expr = self.suffix(expr)?;
            } else if self.peek() == Some("[") {
                expr = self.suffix(expr)?;
            } else {
                return Ok(expr);
            }
        }
    }

    /// After a `.`: a key, a quoted key, or a bracket.
    fn suffix(&mut self, base: Expr) -> Result<Expr, String> {
        if self.eat("[") {
            if self.eat("]") {
                return Ok(Expr::Iterate(Box::new(base)));
            }
            let index = self.pipe()?;
            self.expect("]")?;
            return Ok(Expr::Index(Box::new(base), Box::new(index)));
        }
        match self.peek().map(str::to_string) {
            Some(t) if is_key(&t) => {
                self.pos += 1;
                Ok(Expr::Field(Box::new(base), unquote(&t)?))
            }
            _ => Err("expected a key after '.' in jq expression".to_string()),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(token) = self.peek().map(str::to_string) else {
            return Err("unexpected end of jq expression".to_string());
        };
        self.pos += 1;
        match token.as_str() {
            "." => {
                if self.peek().is_some_and(|t| is_key(t) || t == "[") {
                    self.suffix(Expr::Identity)
                } else {
                    Ok(Expr::Identity)
                }
            }
            "(" => {
                let inner = self.pipe()?;
                self.expect(")")?;
                Ok(inner)
            }
            "[" => {
                if self.eat("]") {
                    return Ok(Expr::Array(None));
                }
                let inner = self.pipe()?;
                self.expect("]")?;
                Ok(Expr::Array(Some(Box::new(inner))))
            }
            "{" => self.object(),
            "-" => {
                self.depth += 1;
                if self.depth > 64 {
                    return Err("jq expression is nested too deeply".to_string());
                }
                let operand = self.postfix()?;
                self.depth -= 1;
                Ok(Expr::Binary(
                    "-".into(),
                    Box::new(Expr::Literal(Json::from(0))),
                    Box::new(operand),
                ))
            }
            t if t.starts_with('"') => Ok(Expr::Literal(Json::String(unquote(t)?))),
            t if t.starts_with(|c: char| c.is_ascii_digit()) => t
                .parse::<i64>()
                .map(Json::from)
                .or_else(|_| t.parse::<f64>().map(Json::from))
                .map(Expr::Literal)
                .map_err(|_| format!("invalid number '{t}' in jq expression")),
            "true" => Ok(Expr::Literal(Json::Bool(true))),
            "false" => Ok(Expr::Literal(Json::Bool(false))),
            "null" => Ok(Expr::Literal(Json::Null)),
            name if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                let mut args = Vec::new();
                if self.eat("(") {
                    loop {
                        args.push(self.pipe_no_semicolon()?);
                        if !self.eat(";") {
                            break;
                        }
                    }
                    self.expect(")")?;
                }
                Ok(Expr::Call(name.to_string(), args))
            }
            other => Err(format!("unexpected '{other}' in jq expression")),
        }
    }

    fn pipe_no_semicolon(&mut self) -> Result<Expr, String> {
        self.pipe()
    }

    fn object(&mut self) -> Result<Expr, String> {
        let mut entries = Vec::new();
        while !self.eat("}") {
            let Some(token) = self.peek().map(str::to_string) else {
                return Err("unterminated object in jq expression".to_string());
            };
            self.pos += 1;
            let key = if token == "(" {
                let key = self.pipe()?;
                self.expect(")")?;
                key
            } else {
                Expr::Literal(Json::String(unquote(&token)?))
            };
            let value = if self.eat(":") {
                self.binary(0)?
            } else {
                match &key {
                    Expr::Literal(Json::String(k)) => {
                        Expr::Field(Box::new(Expr::Identity), k.clone())
                    }
                    _ => return Err("object keys in parentheses need a value".to_string()),
                }
            };
            entries.push((key, value));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(Expr::Object(entries))
    }
}

fn is_key(token: &str) -> bool {
    token.starts_with('"') || token.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

fn unquote(token: &str) -> Result<String, String> {
    if token.starts_with('"') {
        serde_json::from_str(token).map_err(|e| format!("invalid string {token}: {e}"))
    } else {
        Ok(token.to_string())
    }
}

pub(super) fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

pub(super) fn truthy(v: &Json) -> bool {
    !matches!(v, Json::Null | Json::Bool(false))
}

pub(super) fn eval(expr: &Expr, input: &Json, budget: &mut usize) -> Result<Vec<Json>, String> {
    *budget = budget
        .checked_sub(1)
        .ok_or("jq expression produced too many values")?;
    Ok(match expr {
        Expr::Identity => vec![input.clone()],
        Expr::Literal(v) => vec![v.clone()],
        Expr::Field(base, key) => {
            let mut out = Vec::new();
            for v in eval(base, input, budget)? {
                out.push(index(&v, &Json::String(key.clone()))?);
            }
            out
        }
        Expr::Index(base, idx) => {
            let mut out = Vec::new();
            for v in eval(base, input, budget)? {
                for i in eval(idx, input, budget)? {
                    out.push(index(&v, &i)?);
                }
            }
            out
        }
        Expr::Iterate(base) => {
            let mut out = Vec::new();
            for v in eval(base, input, budget)? {
                match v {
                    Json::Array(items) => out.extend(items),
                    Json::Object(map) => out.extend(map.into_iter().map(|(_, v)| v)),
                    other => return Err(format!("cannot iterate over {}", type_name(&other))),
                }
            }
            out
        }
        Expr::Try(inner) => eval(inner, input, budget).unwrap_or_default(),
        Expr::Pipe(left, right) => {
            let mut out = Vec::new();
            for v in eval(left, input, budget)? {
                out.extend(eval(right, &v, budget)?);
            }
            out
        }
        Expr::Comma(left, right) => {
            let mut out = eval(left, input, budget)?;
            out.extend(eval(right, input, budget)?);
            out
        }
        Expr::Binary(op, left, right) => {
            if op == "//" {
                let left: Vec<Json> = eval(left, input, budget)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(truthy)
                    .collect();
                return if left.is_empty() {
                    eval(right, input, budget)
                } else {
                    Ok(left)
                };
            }
            let mut out = Vec::new();
            for r in eval(right, input, budget)? {
                for l in eval(left, input, budget)? {
                    out.push(binary(op, &l, &r)?);
                }
            }
            out
        }
        Expr::Array(None) => vec![Json::Array(Vec::new())],
        Expr::Array(Some(inner)) => vec![Json::Array(eval(inner, input, budget)?)],
        Expr::Object(entries) => {
            let mut objects = vec![Map::new()];
            for (key, value) in entries {
                let keys = eval(key, input, budget)?;
                let values = eval(value, input, budget)?;
                let mut next = Vec::new();
                for object in &objects {
                    for k in &keys {
                        let Json::String(k) = k else {
                            return Err(format!(
                                "object keys must be strings, not {}",
                                type_name(k)
                            ));
                        };
                        for v in &values {
                            let mut o = object.clone();
                            o.insert(k.clone(), v.clone());
                            next.push(o);
                        }
                    }
                }
                objects = next;
            }
            objects.into_iter().map(Json::Object).collect()
        }
        Expr::Call(name, args) => super::jq_builtins::call(name, args, input, budget)?,
    })
}

fn index(value: &Json, key: &Json) -> Result<Json, String> {
    match (value, key) {
        (Json::Null, _) => Ok(Json::Null),
        (Json::Object(map), Json::String(k)) => Ok(map.get(k).cloned().unwrap_or(Json::Null)),
        (Json::Array(items), Json::Number(n)) => {
            let len = items.len() as i64;
            let i = n.as_i64().ok_or("array index must be an integer")?;
            let i = if i < 0 { len + i } else { i };
            Ok(usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .unwrap_or(Json::Null))
        }
        (v, k) => Err(format!(
            "cannot index {} with {}",
            type_name(v),
            type_name(k)
        )),
    }
}

pub(super) fn compare(a: &Json, b: &Json) -> std::cmp::Ordering {
    fn rank(v: &Json) -> u8 {
        match v {
            Json::Null => 0,
            Json::Bool(false) => 1,
            Json::Bool(true) => 2,
            Json::Number(_) => 3,
            Json::String(_) => 4,
            Json::Array(_) => 5,
            Json::Object(_) => 6,
        }
    }
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Json::String(x), Json::String(y)) => x.cmp(y),
        (Json::Array(x), Json::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| compare(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        _ => rank(a).cmp(&rank(b)),
    }
}

pub(super) fn number(v: f64) -> Json {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        Json::from(v as i64)
    } else {
        Json::from(v)
    }
}

fn binary(op: &str, l: &Json, r: &Json) -> Result<Json, String> {
    use std::cmp::Ordering::*;
    Ok(match op {
        "==" => Json::Bool(compare(l, r) == Equal),
        "!=" => Json::Bool(compare(l, r) != Equal),
        "<" => Json::Bool(compare(l, r) == Less),
        "<=" => Json::Bool(compare(l, r) != Greater),
        ">" => Json::Bool(compare(l, r) == Greater),
        ">=" => Json::Bool(compare(l, r) != Less),
        "and" => Json::Bool(truthy(l) && truthy(r)),
        "or" => Json::Bool(truthy(l) || truthy(r)),
        _ => match (op, l, r) {
            (_, Json::Number(a), Json::Number(b)) => {
                let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                match op {
                    "+" => number(a + b),
                    "-" => number(a - b),
                    "*" => number(a * b),
                    "/" if b == 0.0 => return Err("division by zero".to_string()),
                    "/" => number(a / b),
                    _ if b == 0.0 => return Err("division by zero".to_string()),
                    _ => number(a % b),
                }
            }
            ("+", Json::Null, other) | ("+", other, Json::Null) => other.clone(),
            ("+", Json::String(a), Json::String(b)) => Json::String(format!("{a}{b}")),
            ("+", Json::Array(a), Json::Array(b)) => {
                Json::Array(a.iter().chain(b).cloned().collect())
            }
            ("+", Json::Object(a), Json::Object(b)) => {
                let mut merged = a.clone();
                merged.extend(b.clone());
                Json::Object(merged)
            }
            ("-", Json::Array(a), Json::Array(b)) => {
                Json::Array(a.iter().filter(|x| !b.contains(x)).cloned().collect())
            }
            _ => {
                return Err(format!(
                    "cannot apply '{op}' to {} and {}",
                    type_name(l),
                    type_name(r)
                ));
            }
        },
    })
}
