//! `alliance-node`: parses the command line, sets up logging and runs the command.

use std::process::ExitCode;

use clap::Parser;

use alliance_node::cli::{Cli, Command};
use alliance_node::{commands, crash};

fn main() -> ExitCode {
    // Arms the crash points named in FAILPOINTS (builds with the `failpoints` feature only).
    let _crash_points = crash::setup();
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    match &cli.command {
        Command::Serve(args) => alliance_daemon::logging::init(args.log_format),
        _ => commands::init_quiet_logging(),
    }
    // A node is small: two worker threads serve its admin socket and outbox; a command makes a
    // few calls and is done.
    let runtime = if serving {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(commands::run(cli.command)),
        Err(error) => Err(anyhow::Error::new(error).context("starting the async runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("alliance-node: {error:#}");
            ExitCode::FAILURE
        }
    }
}
