//! From flow source text to a [`Flow`], with every problem found in one pass.
//!
//! Reading goes: YAML text → [`crate::yaml`] tree → typed model (this module, which also
//! applies `pluginDefaults`) → cross-cutting checks ([`checks`]: duplicate ids, templates,
//! references between tasks). A problem in one task does not stop the others from being read,
//! so a user sees all their mistakes at once.

mod checks;
mod defaults;
mod document;
mod ids;
mod task;
mod templates;
#[cfg(test)]
mod tests;
mod trigger_checks;

use std::cell::RefCell;

use crate::diagnostic::{Diagnostic, Position};
use crate::flow::Flow;
use crate::template::{RenderLimits, TemplateEngine};
use crate::yaml::{YamlLimits, parse_documents};

/// The outcome of reading one flow document.
#[derive(Debug)]
pub struct ParsedFlow {
    /// The flow, when there was no error. Warnings do not prevent it.
    pub flow: Option<Flow>,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedFlow {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn is_valid(&self) -> bool {
        self.flow.is_some()
    }
}

/// Reads flows. Holds the template engine used to check template syntax, so build it once.
pub struct FlowParser {
    engine: TemplateEngine,
    limits: YamlLimits,
}

impl Default for FlowParser {
    fn default() -> Self {
        Self::new(YamlLimits::default())
    }
}

impl FlowParser {
    pub fn new(limits: YamlLimits) -> Self {
        Self {
            engine: TemplateEngine::new(RenderLimits::default()),
            limits,
        }
    }

    /// Reads a source holding one flow. A stream of several documents is an error here; see
    /// [`FlowParser::parse_all`].
    pub fn parse(&self, source: &str) -> ParsedFlow {
        let mut all = self.parse_all(source);
        if all.len() == 1 {
            return all.remove(0);
        }
        let message = if all.is_empty() {
            "the file holds no flow".to_owned()
        } else {
            format!(
                "the file holds {} YAML documents; a flow is one document",
                all.len()
            )
        };
        ParsedFlow {
            flow: None,
            diagnostics: vec![Diagnostic::error(Position::new(1, 1), message)],
        }
    }

    /// Reads every document of a YAML stream (`---` separated) as a flow.
    pub fn parse_all(&self, source: &str) -> Vec<ParsedFlow> {
        let documents = match parse_documents(source, &self.limits) {
            Ok(documents) => documents,
            Err(error) => {
                return vec![ParsedFlow {
                    flow: None,
                    diagnostics: vec![error],
                }];
            }
        };
        documents
            .iter()
            .map(|root| {
                let problems = RefCell::new(Vec::new());
                let flow = document::read_flow(root, &problems);
                let mut diagnostics = problems.into_inner();
                if let Some(flow) = &flow {
                    diagnostics.extend(checks::check_flow(flow));
                }
                diagnostics.extend(templates::check_templates(
                    root,
                    source,
                    &self.engine,
                    flow.as_ref(),
                ));
                diagnostics.sort_by_key(|d| (d.position, d.severity));
                diagnostics.dedup();
                let has_errors = diagnostics.iter().any(Diagnostic::is_error);
                ParsedFlow {
                    flow: if has_errors { None } else { flow },
                    diagnostics,
                }
            })
            .collect()
    }
}

/// Reads one flow with default limits; a shorthand for tests and tools.
pub fn parse_flow(source: &str) -> ParsedFlow {
    FlowParser::default().parse(source)
}
