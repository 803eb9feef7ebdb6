//! Positions in a source file and the messages attached to them.

use std::fmt;

use serde::Serialize;

/// A position in a source text. Both numbers are 1-based, as editors show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A range of a source text: where a YAML node starts and ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

impl Span {
    pub fn new(start: Position, end: Position) -> Self {
        Self { start, end }
    }

    /// A span of one point, for messages about something that is absent.
    pub fn at(position: Position) -> Self {
        Self {
            start: position,
            end: position,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One message about a source file: an error that stops a flow from being deployed, or a
/// warning that is printed while the flow is still accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub position: Position,
    pub message: String,
}

impl Diagnostic {
    pub fn error(position: Position, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            position,
            message: message.into(),
        }
    }

    pub fn warning(position: Position, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            position,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Formats the diagnostic the way compilers do, `file:line:column: message`, so editors and
    /// terminals can jump to it.
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DisplayIn {
            diagnostic: self,
            file,
        }
    }
}

struct DisplayIn<'a> {
    diagnostic: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostic;
        let level = match d.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(f, "{}:{}: {level}{}", self.file, d.position, d.message)
    }
}

/// Suggests the candidate closest to `word`, for "did you mean" hints. Case differences count
/// as small, so `Maxattempt` finds `maxAttempt`.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase());
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.filter(|(score, _)| *score >= 0.85).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_near_misses_and_rejects_strangers() {
        let fields = ["maxAttempt", "interval", "maxDuration", "type"];
        assert_eq!(closest("maxAttempts", fields), Some("maxAttempt"));
        assert_eq!(closest("Intervall", fields), Some("interval"));
        assert_eq!(closest("zzz", fields), None);
    }

    #[test]
    fn display_in_names_file_line_and_column() {
        let d = Diagnostic::error(Position::new(3, 7), "unknown field 'x'");
        assert_eq!(
            d.display_in("f.yaml").to_string(),
            "f.yaml:3:7: unknown field 'x'"
        );
        let w = Diagnostic::warning(Position::new(1, 1), "hm");
        assert_eq!(
            w.display_in("f.yaml").to_string(),
            "f.yaml:1:1: warning: hm"
        );
    }
}
