//! The `baton` binary: parses arguments and hands over to a command. Nothing else lives here.

mod client;
mod commands;
mod config;
mod flows_dir;
mod health;
mod metrics;
mod node;
mod telemetry;

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
    #[command(flatten)]
    server: client::ServerArgs,
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
    /// Run and watch executions on a server.
    #[command(subcommand)]
    Execution(commands::execution::ExecutionCommand),
    /// Ask a server role on this host whether it is ready (or live); exit 0 if it is.
    Health(commands::health::HealthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Flow(command) => commands::flow::run(command, &cli.server),
        Command::Server(command) => commands::server::run(command),
        Command::Migrate(args) => commands::server::migrate(args),
        Command::Execution(command) => Ok(commands::execution::run(command, &cli.server)),
        Command::Health(args) => commands::health::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
