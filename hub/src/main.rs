//! `alliance-hub`: parses the command line, sets up logging and runs the command.

use std::process::ExitCode;

use clap::Parser;

use alliance_hub::cli::{Cli, Command, LogFormatArg};
use alliance_hub::{commands, crash};

fn main() -> ExitCode {
    // Arms the crash points named in FAILPOINTS (builds with the `failpoints` feature only).
    let _crash_points = crash::setup();
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    match &cli.command {
        Command::Serve(args) => alliance_daemon::logging::init(match args.log_format {
            LogFormatArg::Text => alliance_daemon::logging::LogFormat::Text,
            LogFormatArg::Json => alliance_daemon::logging::LogFormat::Json,
        }),
        _ => commands::init_quiet_logging(),
    }
    // The daemon uses every core; a command makes a few calls and is done.
    let runtime = if serving {
        tokio::runtime::Builder::new_multi_thread()
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
            eprintln!("alliance-hub: {error:#}");
            ExitCode::FAILURE
        }
    }
}
