//! Templates in Kestra's Pebble dialect, rendered with minijinja behind a rewriting layer.
//!
//! Placeholder until the template engine lands: only the functions the flow parser calls.

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

#[derive(Default)]
pub struct RenderLimits {
    pub fuel: u64,
}

pub struct TemplateEngine;

impl TemplateEngine {
    pub fn new(_limits: RenderLimits) -> Self {
        Self
    }

    pub fn check(&self, source: &str) -> Result<(), TemplateError> {
        if source.matches("{{").count() != source.matches("}}").count() {
            return Err(TemplateError {
                message: "unbalanced braces".into(),
                line: Some(1),
                column: Some(1),
            });
        }
        Ok(())
    }
}

pub struct OutputReference {
    pub task_id: String,
    pub line: u32,
    pub column: u32,
}

pub fn output_references(_source: &str) -> Vec<OutputReference> {
    Vec::new()
}

pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}
