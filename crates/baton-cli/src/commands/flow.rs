//! `baton flow …`: commands on flow files: `validate` locally, `deploy` to a server.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use baton_core::parse::FlowParser;
use baton_core::topology::render_tree;
use clap::Subcommand;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{self, Client, ServerArgs, out};

#[derive(Subcommand)]
pub enum FlowCommand {
    /// Check flow files: print every error and warning as file:line:column, exit 1 on errors.
    Validate {
        /// Flow files (YAML). Several documents separated by `---` are each a flow.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also print each valid flow's task tree.
        #[arg(long)]
        graph: bool,
    },
    /// Validate flow files, then create or update each flow on the server (a new revision).
    /// Nothing is deployed when a file is invalid; exit 1 if any flow failed.
    Deploy {
        /// Flow files (YAML). Several documents separated by `---` are each a flow.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(command: FlowCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    match command {
        FlowCommand::Validate { files, graph } => validate(&files, graph),
        FlowCommand::Deploy { files } => Ok(client::block_on(deploy(files, server.clone()))),
    }
}

fn validate(files: &[PathBuf], graph: bool) -> anyhow::Result<ExitCode> {
    let parser = FlowParser::default();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut failed = 0usize;
    for path in files {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                writeln!(stderr, "{name}: cannot read: {e}")?;
                failed += 1;
                continue;
            }
        };
        let Ok(source) = String::from_utf8(bytes) else {
            writeln!(stderr, "{name}:1:1: the file is not UTF-8 text")?;
            failed += 1;
            continue;
        };
        for parsed in parser.parse_all(&source) {
            for diagnostic in &parsed.diagnostics {
                writeln!(stderr, "{}", diagnostic.display_in(&name))?;
            }
            match &parsed.flow {
                Some(flow) => {
                    writeln!(
                        stdout,
                        "{name}: ok ({}.{}, {} tasks)",
                        flow.namespace,
                        flow.id,
                        flow.all_tasks().len()
                    )?;
                    if graph {
                        write!(stdout, "{}", render_tree(flow))?;
                    }
                }
                None => failed += 1,
            }
        }
    }
    stdout.flush().context("writing to stdout")?;
    if failed > 0 {
        writeln!(
            stderr,
            "{failed} invalid flow{}",
            if failed == 1 { "" } else { "s" }
        )?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One flow read from a file, ready to send.
struct LocalFlow {
    file: String,
    /// Lines before the flow's document in its file, to place the server's positions.
    line_offset: u32,
    source: String,
    namespace: String,
    id: String,
}

/// The part of the API's flow answer the command prints.
#[derive(Deserialize)]
struct DeployedFlow {
    namespace: String,
    id: String,
    revision: i32,
}

async fn deploy(files: Vec<PathBuf>, server: ServerArgs) -> Result<ExitCode, client::Error> {
    let Some(flows) = read_for_deploy(&files) else {
        return Ok(ExitCode::FAILURE);
    };
    let client = Client::new(&server)?;
    let mut failed = 0usize;
    for flow in &flows {
        match deploy_one(&client, flow).await {
            Ok(deployed) => out!(
                "{}.{} revision {}",
                deployed.namespace,
                deployed.id,
                deployed.revision
            ),
            Err(client::Error::Api {
                message, details, ..
            }) => {
                failed += 1;
                eprintln!(
                    "{}: {}.{} not deployed: {message}",
                    flow.file, flow.namespace, flow.id
                );
                for detail in &details {
                    eprintln!("{}", detail.display(Some((&flow.file, flow.line_offset))));
                }
            }
            // Unreachable server and the like: the next flow would fail the same way.
            Err(error) => return Err(error),
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} flow{} not deployed",
            if failed == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the flow, or updates it when it exists (`POST` answers 409, then `PUT`).
async fn deploy_one(client: &Client, flow: &LocalFlow) -> Result<DeployedFlow, client::Error> {
    let yaml = |method: Method, path: &str| {
        client
            .request(method, path)
            .header("content-type", "application/x-yaml")
            .body(flow.source.clone())
    };
    match client.json(yaml(Method::POST, "/api/v1/flows")).await {
        Err(client::Error::Api {
            status: StatusCode::CONFLICT,
            ..
        }) => {
            let path = format!("/api/v1/flows/{}/{}", flow.namespace, flow.id);
            client.json(yaml(Method::PUT, &path)).await
        }
        other => other,
    }
}

/// Reads and validates every file with the same parser as `flow validate`, printing every
/// diagnostic; `None` when any flow is invalid (then nothing is deployed).
fn read_for_deploy(files: &[PathBuf]) -> Option<Vec<LocalFlow>> {
    let parser = FlowParser::default();
    let mut flows = Vec::new();
    let mut invalid = 0usize;
    for path in files {
        let name = path.display().to_string();
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                invalid += 1;
                continue;
            }
        };
        let parsed = parser.parse_all(&source);
        // The API takes one flow per request: a stream is sent document by document.
        let documents = if parsed.len() > 1 {
            split_documents(&source)
        } else {
            vec![(0, source.clone())]
        };
        if documents.len() != parsed.len() {
            eprintln!(
                "{name}: cannot split the file into its {} flows; deploy one flow per file",
                parsed.len()
            );
            invalid += 1;
            continue;
        }
        for (parsed, (line_offset, text)) in parsed.into_iter().zip(documents) {
            for diagnostic in &parsed.diagnostics {
                eprintln!("{}", diagnostic.display_in(&name));
            }
            match parsed.flow {
                Some(flow) => flows.push(LocalFlow {
                    file: name.clone(),
                    line_offset,
                    source: text,
                    namespace: flow.namespace,
                    id: flow.id,
                }),
                None => invalid += 1,
            }
        }
    }
    if invalid > 0 {
        eprintln!(
            "{invalid} invalid flow{}; nothing deployed",
            if invalid == 1 { "" } else { "s" }
        );
        return None;
    }
    Some(flows)
}

/// Splits a YAML stream on its `---` markers into (lines before the document, its text), the
/// way the server's import does; documents with only comments or blanks are dropped.
fn split_documents(source: &str) -> Vec<(u32, String)> {
    let mut documents = vec![(0u32, String::new())];
    for (index, line) in source.split_inclusive('\n').enumerate() {
        let marker = line.trim_end();
        if marker == "---" || marker.starts_with("--- ") {
            documents.push((index as u32 + 1, String::new()));
            continue;
        }
        if let Some((_, current)) = documents.last_mut() {
            current.push_str(line);
        }
    }
    documents.retain(|(_, d)| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    documents
}

#[cfg(test)]
mod tests {
    use super::split_documents;

    #[test]
    fn split_documents_keeps_each_flow_and_its_first_line() {
        let docs = split_documents("---\nid: a\n---\n# c\nid: b\n");
        assert_eq!(
            docs,
            vec![(1, "id: a\n".to_owned()), (3, "# c\nid: b\n".to_owned())]
        );
    }
}
