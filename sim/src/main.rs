//! `fasterclaw-sim`: runs a simulator as its own process on loopback and prints the
//! address it listens on.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fasterclaw_sim::fly::{FaultPlan, FlySim, FlySimConfig};

/// Stand-ins for the services FasterClaw talks to, for tests and local runs.
#[derive(Debug, Parser)]
#[command(name = "fasterclaw-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate the Fly.io Machines API.
    Fly {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Token requests must carry.
        #[arg(long, env = "FLY_SIM_TOKEN", default_value = "fly-sim-token")]
        token: String,
        /// Organization slug.
        #[arg(long, default_value = "personal")]
        org: String,
        /// Milliseconds a machine takes between states.
        #[arg(long, default_value_t = 300)]
        transition_ms: u64,
        /// Seed of ids and faults.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Answer Fly's rate limits with 429.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        rate_limits: bool,
        /// Fault plan as JSON, e.g. '{"*": {"server_error": 0.1}}'.
        #[arg(long)]
        faults: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Fly {
            listen,
            token,
            org,
            transition_ms,
            seed,
            rate_limits,
            faults,
        } => {
            let config = FlySimConfig {
                token,
                org_slug: org,
                transition: Duration::from_millis(transition_ms),
                seed,
                rate_limits,
            };
            let sim = match FlySim::start(config, listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(faults) = faults {
                match serde_json::from_str::<FaultPlan>(&faults) {
                    Ok(plan) => sim.set_faults(plan),
                    Err(e) => {
                        eprintln!("fasterclaw-sim: --faults is not a fault plan: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            println!("{}", sim.base_url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
    }
}
