//! `baton flow …`: commands on flow files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use baton_core::parse::FlowParser;
use baton_core::topology::render_tree;
use clap::Subcommand;

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
}

pub fn run(command: FlowCommand) -> anyhow::Result<ExitCode> {
    match command {
        FlowCommand::Validate { files, graph } => validate(&files, graph),
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
