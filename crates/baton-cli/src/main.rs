//! The `baton` binary: parses arguments and hands over to a command. Nothing else lives here.

mod client;
mod commands;
mod config;
mod flows_dir;
mod health;
mod heap;
mod metrics;
mod node;
mod retention;
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
    /// List, enable, disable and run Schedule triggers on a server.
    #[command(subcommand)]
    Trigger(commands::trigger::TriggerCommand),
    /// Backfill a trigger's past dates on a server, and follow, pause, resume or cancel it.
    #[command(subcommand)]
    Backfill(commands::trigger::BackfillCommand),
    /// Administer a server: purge old executions and logs.
    #[command(subcommand)]
    Sys(commands::sys::SysCommand),
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
        Command::Trigger(command) => Ok(commands::trigger::run_trigger(command, &cli.server)),
        Command::Backfill(command) => Ok(commands::trigger::run_backfill(command, &cli.server)),
        Command::Sys(command) => Ok(commands::sys::run(command, &cli.server)),
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
