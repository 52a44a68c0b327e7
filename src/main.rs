use std::process::ExitCode;

use clap::Parser;
use fasterclaw::cli::Cli;

fn main() -> ExitCode {
    // Before anything reads the environment, and before any thread starts.
    if let Err(e) = fasterclaw::cli::load_dotenv(std::path::Path::new(".env")) {
        eprintln!("fasterclaw: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    fasterclaw::telemetry::init(&cli.logging);
    fasterclaw::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fasterclaw: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fasterclaw::commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fasterclaw: {e}");
            ExitCode::FAILURE
        }
    }
}
