//! The template error type, and the bridge that carries Baton's own error details (kind,
//! message, exact position) through minijinja, which only knows its own error kinds.

use std::fmt;

use super::lexer::{self, SyntaxError};

/// What went wrong while checking or rendering a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template does not parse.
    Syntax,
    /// A variable or attribute path does not exist.
    UndefinedVariable,
    /// `secret`, `kv`, `read` or `render` failed.
    Function,
    /// Fuel, output size or `render()` depth was exceeded.
    Limit,
    /// A value had the wrong type for an operator, filter or function.
    Type,
    Other,
}

/// A template failure; `Display` is the message, and the position (1-based, in the original
/// Pebble source) is given separately so the caller can prefix it with the file position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Which property of a rendered value held the failing template, as a path such as
    /// `headers.Authorization` or `commands[1]`; set by [`super::TemplateEngine::render_value`].
    pub property: Option<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.property {
            Some(property) => write!(f, "property '{property}': {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl TemplateError {
    pub(crate) fn new(kind: TemplateErrorKind, message: impl Into<String>) -> Self {
        TemplateError {
            kind,
            message: message.into(),
            line: None,
            column: None,
            property: None,
        }
    }

    /// Records that the failing template sat under `segment` (a key, or `[index]`), inside any
    /// path already recorded.
    pub(crate) fn under(mut self, segment: &str) -> Self {
        self.property = Some(match self.property.take() {
            None => segment.to_owned(),
            Some(inner) if inner.starts_with('[') => format!("{segment}{inner}"),
            Some(inner) => format!("{segment}.{inner}"),
        });
        self
    }

    pub(crate) fn at(mut self, src: &str, offset: usize) -> Self {
        let (line, column) = lexer::line_col(src, offset);
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub(crate) fn syntax(src: &str, err: SyntaxError) -> Self {
        TemplateError::new(TemplateErrorKind::Syntax, err.message).at(src, err.offset)
    }

    /// Translates a minijinja error raised while rendering `src` (the original Pebble source;
    /// the rewritten source keeps its line structure, so minijinja's line numbers are valid).
    pub(crate) fn from_minijinja(err: &minijinja::Error, src: &str) -> Self {
        if let Some(fault) = find_fault(err) {
            let error = TemplateError::new(fault.kind, fault.message.clone());
            return match fault.offset {
                Some(offset) => error.at(src, offset),
                None => error.with_line(err.line()),
            };
        }
        use minijinja::ErrorKind as K;
        let detail = err.detail().unwrap_or_default();
        let (kind, message) = match err.kind() {
            K::OutOfFuel => (
                TemplateErrorKind::Limit,
                "template exceeded its evaluation budget (fuel); it loops or computes too much"
                    .to_string(),
            ),
            K::SyntaxError => (TemplateErrorKind::Syntax, lowercase(detail)),
            K::UndefinedError => (
                TemplateErrorKind::UndefinedVariable,
                "undefined value".to_string(),
            ),
            K::InvalidOperation if detail.contains("recursion limit") => (
                TemplateErrorKind::Limit,
                "template recursion limit exceeded".to_string(),
            ),
            K::InvalidOperation | K::CannotUnpack | K::NonKey | K::NonPrimitive => {
                (TemplateErrorKind::Type, lowercase(detail))
            }
            K::TooManyArguments | K::MissingArgument => {
                (TemplateErrorKind::Type, lowercase(&err.kind().to_string()))
            }
            other => (TemplateErrorKind::Other, lowercase(&other.to_string())),
        };
        let message = if message.is_empty() {
            lowercase(&err.kind().to_string())
        } else {
            message
        };
        TemplateError::new(kind, message).with_line(err.line())
    }

    fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line.and_then(|l| u32::try_from(l).ok());
        self
    }
}

fn lowercase(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Baton's error details, attached as the `source` of a minijinja error so they survive the
/// trip through the template engine.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub kind: TemplateErrorKind,
    pub message: String,
    /// Byte offset in the original Pebble source, when known precisely.
    pub offset: Option<usize>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fault {}

/// Builds a minijinja error carrying a [`Fault`].
pub(crate) fn fault(kind: TemplateErrorKind, message: impl Into<String>) -> minijinja::Error {
    fault_at(kind, message, None)
}

pub(crate) fn fault_at(
    kind: TemplateErrorKind,
    message: impl Into<String>,
    offset: Option<usize>,
) -> minijinja::Error {
    let message = message.into();
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message.clone()).with_source(
        Fault {
            kind,
            message,
            offset,
        },
    )
}

/// Shorthand for the common "wrong type" failure.
pub(crate) fn type_error(message: impl Into<String>) -> minijinja::Error {
    fault(TemplateErrorKind::Type, message)
}

fn find_fault(err: &minijinja::Error) -> Option<&Fault> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(current) = source {
        if let Some(fault) = current.downcast_ref::<Fault>() {
            return Some(fault);
        }
        source = current.source();
    }
    None
}
