//! Turns a parsed Pebble expression into minijinja expression source.
//!
//! Every attribute or subscript access becomes a call to `__var`/`__attr` (see `runtime.rs`),
//! which walks the path itself. That is what makes strict lookups name the full path in their
//! error (`variable 'outputs.extract.uri' is undefined`) while the operands of `??`, `???`,
//! `default`, `is defined`, `is null` and `is empty` use *lenient* lookups that yield undefined
//! instead. Operators whose Pebble meaning differs from Jinja (`/`, `%`, `~`, `contains`, `..`)
//! become helper calls too.

use std::fmt::Write;

use super::parser::{BinOp, Kind, Node};

/// How a path lookup treats a missing key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Missing is an error naming the path.
    Strict,
    /// Missing yields undefined (operands of `??`, `default`, `is defined`, …).
    Lenient,
}

enum Step<'n> {
    Dot(&'n str),
    Sub(&'n Node),
}

pub(crate) struct Emitter<'s> {
    /// The original Pebble source, used to show non-variable path roots in error messages.
    pub src: &'s str,
}

impl Emitter<'_> {
    pub(crate) fn expression(&self, node: &Node, lookup: Lookup) -> String {
        let mut out = String::new();
        self.emit(&mut out, node, lookup);
        out
    }

    fn emit(&self, out: &mut String, node: &Node, lookup: Lookup) {
        match &node.kind {
            Kind::Null => out.push_str("none"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Int(n) if *n < 0 => {
                let _ = write!(out, "({n})");
            }
            Kind::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Kind::Float(f) if f.is_finite() => {
                let _ = write!(out, "({f:?})");
            }
            Kind::Float(_) => out.push_str("none"),
            Kind::Str(s) => string_literal(out, s),
            Kind::Name(_) | Kind::Attr(..) | Kind::Index(..) => self.path(out, node, lookup),
            Kind::Call(name, args) => {
                out.push_str(name);
                self.arguments(out, None, args, lookup);
            }
            Kind::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.emit(out, item, lookup);
                }
                out.push(']');
            }
            Kind::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.emit(out, k, lookup);
                    out.push_str(": ");
                    self.emit(out, v, lookup);
                }
                out.push('}');
            }
            Kind::Not(inner) => self.call(out, "(not ", &[inner], lookup),
            Kind::Neg(inner) => self.call(out, "(-", &[inner], lookup),
            Kind::Binary(op, left, right) => self.binary(out, *op, left, right, lookup),
            Kind::Filter(input, name, args) => {
                let input_lookup = if name == "default" {
                    Lookup::Lenient
                } else {
                    lookup
                };
                out.push('(');
                self.emit(out, input, input_lookup);
                out.push_str(")|");
                out.push_str(name);
                if !args.is_empty() {
                    self.arguments(out, None, args, lookup);
                }
            }
            Kind::Test(input, name, negated) => {
                let input_lookup = match name.as_str() {
                    "defined" | "null" | "empty" => Lookup::Lenient,
                    _ => lookup,
                };
                out.push_str(if *negated { "(not __is_" } else { "(__is_" });
                out.push_str(name);
                out.push('(');
                self.emit(out, input, input_lookup);
                out.push_str("))");
            }
            Kind::Ternary(cond, then, otherwise) => {
                out.push('(');
                self.emit(out, then, lookup);
                out.push_str(" if __bool(");
                self.emit(out, cond, lookup);
                out.push_str(") else ");
                self.emit(out, otherwise, lookup);
                out.push(')');
            }
        }
    }

    /// Emits `prefix a, b, …)`.
    fn call(&self, out: &mut String, prefix: &str, args: &[&Node], lookup: Lookup) {
        out.push_str(prefix);
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.emit(out, arg, lookup);
        }
        out.push(')');
    }

    fn arguments(&self, out: &mut String, first: Option<&str>, args: &[Option<Node>], l: Lookup) {
        out.push('(');
        if let Some(first) = first {
            out.push_str(first);
        }
        for (i, arg) in args.iter().enumerate() {
            if i > 0 || first.is_some() {
                out.push_str(", ");
            }
            match arg {
                Some(arg) => self.emit(out, arg, l),
                None => out.push_str("none"),
            }
        }
        out.push(')');
    }

    fn binary(&self, out: &mut String, op: BinOp, left: &Node, right: &Node, lookup: Lookup) {
        let native = |symbol: &str| format!(" {symbol} ");
        match op {
            BinOp::Or | BinOp::And => {
                out.push_str("__bool(");
                self.emit(out, left, lookup);
                out.push_str(if op == BinOp::Or { " or " } else { " and " });
                self.emit(out, right, lookup);
                out.push(')');
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let symbol = match op {
                    BinOp::Eq => "==",
                    BinOp::Ne => "!=",
                    BinOp::Lt => "<",
                    BinOp::Gt => ">",
                    BinOp::Le => "<=",
                    _ => ">=",
                };
                self.infix(out, left, &native(symbol), right, lookup);
            }
            BinOp::Add => self.infix(out, left, " + ", right, lookup),
            BinOp::Sub => self.infix(out, left, " - ", right, lookup),
            BinOp::Mul => self.infix(out, left, " * ", right, lookup),
            BinOp::Div => self.call(out, "__div(", &[left, right], lookup),
            BinOp::Mod => self.call(out, "__mod(", &[left, right], lookup),
            BinOp::Range => self.call(out, "__range(", &[left, right], lookup),
            BinOp::Contains => self.call(out, "__contains(", &[left, right], lookup),
            BinOp::In => self.call(out, "__contains(", &[right, left], lookup),
            BinOp::NotIn => self.call(out, "(not __contains(", &[right, left], lookup),
            BinOp::Concat => {
                let mut parts = Vec::new();
                collect_chain(BinOp::Concat, left, &mut parts);
                parts.push(right);
                self.call(out, "__concat(", &parts, lookup);
            }
            BinOp::Coalesce | BinOp::CoalesceUndefined => {
                let mut parts = Vec::new();
                collect_chain(op, left, &mut parts);
                let check = if op == BinOp::Coalesce {
                    "__present("
                } else {
                    "__defined("
                };
                // `a ?? b ?? c` → `(a if present(a) else (b if present(b) else c))`: the right
                // side is only evaluated when needed, like Pebble's lazy operator.
                for part in &parts {
                    let lenient = self.expression(part, Lookup::Lenient);
                    let _ = write!(out, "({lenient} if {check}{lenient}) else ");
                }
                self.emit(out, right, lookup);
                out.extend(std::iter::repeat_n(')', parts.len()));
            }
        }
        if op == BinOp::NotIn {
            out.push(')');
        }
    }

    fn infix(&self, out: &mut String, left: &Node, symbol: &str, right: &Node, lookup: Lookup) {
        out.push('(');
        self.emit(out, left, lookup);
        out.push_str(symbol);
        self.emit(out, right, lookup);
        out.push(')');
    }

    fn path(&self, out: &mut String, node: &Node, lookup: Lookup) {
        let mut steps = Vec::new();
        let mut root = node;
        loop {
            match &root.kind {
                Kind::Attr(base, name) => {
                    steps.push(Step::Dot(name));
                    root = base;
                }
                Kind::Index(base, index) => {
                    steps.push(Step::Sub(index));
                    root = base;
                }
                _ => break,
            }
        }
        steps.reverse();
        let mode = if lookup == Lookup::Strict { 's' } else { 'l' };
        let kinds: String = steps
            .iter()
            .map(|s| if matches!(s, Step::Dot(_)) { '.' } else { '[' })
            .collect();
        match &root.kind {
            // Pebble's loop variables are 0-based; minijinja's `index0`/`revindex0` match them.
            Kind::Name(name) if name == "loop" && matches!(steps.first(), Some(Step::Dot(_))) => {
                let Some(Step::Dot(attr)) = steps.first() else {
                    return;
                };
                let spec = format!("{mode}{}|loop.{attr}|{}", node.span.start, &kinds[1..]);
                let attr = match *attr {
                    "index" => "index0",
                    "revindex" => "revindex0",
                    other => other,
                };
                out.push_str("__attr(");
                string_literal(out, &spec);
                let _ = write!(out, ", loop.{attr}");
                self.keys(out, &steps[1..], lookup);
            }
            Kind::Name(name) => {
                let spec = format!("{mode}{}|{name}|{kinds}", node.span.start);
                out.push_str("__var(");
                string_literal(out, &spec);
                self.keys(out, &steps, lookup);
            }
            _ => {
                let display = self.src.get(root.span.clone()).unwrap_or("value");
                let spec = format!("{mode}{}|{display}|{kinds}", node.span.start);
                out.push_str("__attr(");
                string_literal(out, &spec);
                out.push_str(", ");
                self.emit(out, root, lookup);
                self.keys(out, &steps, lookup);
            }
        }
    }

    /// Emits `, key1, key2)` closing a `__var`/`__attr` call.
    fn keys(&self, out: &mut String, steps: &[Step<'_>], lookup: Lookup) {
        for step in steps {
            out.push_str(", ");
            match step {
                Step::Dot(name) => string_literal(out, name),
                Step::Sub(index) => self.emit(out, index, lookup),
            }
        }
        out.push(')');
    }
}

/// Flattens a left-associative chain of the same operator: `(a ~ b) ~ c` → `[a, b, c]`.
fn collect_chain<'n>(op: BinOp, node: &'n Node, parts: &mut Vec<&'n Node>) {
    match &node.kind {
        Kind::Binary(inner, left, right) if *inner == op => {
            collect_chain(op, left, parts);
            parts.push(right);
        }
        _ => parts.push(node),
    }
}

/// Writes `s` as a double-quoted minijinja string literal.
pub(crate) fn string_literal(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
