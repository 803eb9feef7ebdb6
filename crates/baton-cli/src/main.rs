//! The `baton` binary: parses arguments and hands over to a command. Nothing else lives here.

mod commands;
mod flows_dir;
mod node;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "baton",
    version,
    about = "Baton, a workflow orchestrator that runs Kestra flows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with flow files.
    #[command(subcommand)]
    Flow(commands::flow::FlowCommand),
    /// Run a server role.
    #[command(subcommand)]
    Server(commands::server::ServerCommand),
    /// Apply the store's schema migrations and exit.
    Migrate(commands::server::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Flow(command) => commands::flow::run(command),
        Command::Server(command) => commands::server::run(command),
        Command::Migrate(args) => commands::server::migrate(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
