//! `fasterclaw-sim`: runs a simulator as its own process on loopback and prints the
//! address it listens on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fasterclaw_sim::fly::{FaultPlan, FlySim, FlySimConfig, ImageRun, MachineRuntime};
use fasterclaw_sim::google::{GoogleSim, GoogleSimConfig, GoogleUser};
use fasterclaw_sim::kube::{KubeFaults, KubeSim, KubeSimConfig};
use fasterclaw_sim::models::{ModelFaults, ModelSim};
use fasterclaw_sim::stripe::delivery::Endpoint;
use fasterclaw_sim::stripe::{PriceSeed, StripeSim, StripeSimConfig};
use fasterclaw_sim::telegram::TelegramSim;

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
        /// Run started machines as local processes with this Node.js binary (needs
        /// --openclaw and --machines-dir).
        #[arg(long, requires_all = ["openclaw", "machines_dir"])]
        node: Option<PathBuf>,
        /// The OpenClaw package dir (holds openclaw.mjs): the image's /app.
        #[arg(long, requires_all = ["node", "machines_dir"])]
        openclaw: Option<PathBuf>,
        /// Where machines' root filesystems, volumes and logs go.
        #[arg(long, requires_all = ["node", "openclaw"])]
        machines_dir: Option<PathBuf>,
        /// Run machines of IMAGE with the OpenClaw package DIR as their /app, as
        /// `IMAGE=DIR` (repeatable; needs --node, --openclaw and --machines-dir). Other
        /// images run --openclaw.
        #[arg(long, value_name = "IMAGE=DIR", requires_all = ["node", "openclaw", "machines_dir"])]
        openclaw_image: Vec<String>,
        /// A broken release: machines of IMAGE exit with code 1 as soon as they start
        /// (repeatable; with or without machines that run).
        #[arg(long, value_name = "IMAGE")]
        broken_image: Vec<String>,
    },
    /// Stand in for Telegram's Bot API (long polling, private chats, a chat page at /chat).
    Telegram {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// A bot to know, as `<token>=<username>` (repeatable; the token is never printed).
        #[arg(long)]
        bot: Vec<String>,
        /// Treat every well-formed token as a bot's.
        #[arg(long, default_value_t = false)]
        accept_any: bool,
    },
    /// Stand in for Google's OpenID Connect provider ("Sign in with Google"): discovery,
    /// authorization, token, userinfo and keys.
    Google {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The OAuth client id.
        #[arg(
            long,
            env = "GOOGLE_CLIENT_ID",
            default_value = "fasterclaw-dev.apps.googleusercontent.com"
        )]
        client_id: String,
        /// The OAuth client secret.
        #[arg(
            long,
            env = "GOOGLE_CLIENT_SECRET",
            hide_env_values = true,
            default_value = "fasterclaw-dev-secret"
        )]
        client_secret: String,
        /// A Google account to know, as `<email>` or `<email>=<name>`, with a verified
        /// email (repeatable); the account page also takes any typed email.
        #[arg(long)]
        user: Vec<String>,
    },
    /// Stand in for the model APIs (Anthropic, OpenAI, Google) with deterministic answers.
    Models {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// A model to answer 404, as one the key has no access to (repeatable).
        #[arg(long)]
        unavailable: Vec<String>,
        /// Milliseconds to wait before each answer.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Run the whole control plane locally: the stand-ins, then `fasterclaw controller`
    /// and `fasterclaw api` against them (see scripts/dev).
    Dev {
        /// The `fasterclaw` binary.
        #[arg(long, default_value = "target/debug/fasterclaw")]
        fasterclaw: PathBuf,
        /// The database.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The facade's port (0: any free one).
        #[arg(long, env = "FASTERCLAW_DEV_PORT", default_value_t = 3001)]
        port: u16,
        /// Where the kubeconfig and the logs go.
        #[arg(long, env = "FASTERCLAW_DEV_DIR", default_value = "target/dev")]
        dir: PathBuf,
        /// The Instance CRD.
        #[arg(long, default_value = "crds/instance.yaml")]
        crd: PathBuf,
        /// Run machines as local OpenClaw gateways with this Node.js binary (needs
        /// --openclaw).
        #[arg(long, env = "FASTERCLAW_NODE", requires = "openclaw")]
        node: Option<PathBuf>,
        /// The OpenClaw package dir (holds openclaw.mjs) machines run.
        #[arg(long, env = "FASTERCLAW_OPENCLAW", requires = "node")]
        openclaw: Option<PathBuf>,
        /// Where machines' files go (default: `machines` in --dir).
        #[arg(long)]
        machines_dir: Option<PathBuf>,
    },
    /// Stand in for Stripe's API, and deliver its events to a webhook.
    Stripe {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The secret key requests must carry (any sk_test_ key when unset).
        #[arg(long, env = "STRIPE_SIM_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// A monthly USD price to know, as `<price id>=<cents>` (repeatable).
        #[arg(long)]
        price: Vec<String>,
        /// Where to deliver events.
        #[arg(long, requires = "webhook_secret")]
        webhook_url: Option<String>,
        /// The secret events are signed with (`whsec_...`).
        #[arg(long, env = "STRIPE_SIM_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
    },
    /// Simulate the Kubernetes API server.
    Kube {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Write a kubeconfig for the server here.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Install the CustomResourceDefinitions in this YAML file (repeatable).
        #[arg(long)]
        crd: Vec<PathBuf>,
        /// Seconds between watch bookmarks.
        #[arg(long, default_value_t = 10)]
        bookmark_seconds: u64,
        /// Changes kept for watches and lists at earlier versions: an older
        /// resourceVersion is answered 410 Expired, as after etcd compacts.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        history: u64,
        /// Seed of generated names and faults.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Faults as JSON, e.g. '{"server_error": 0.05, "drop_watch_after_ms": [1000, 5000]}'.
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
            node,
            openclaw,
            machines_dir,
            openclaw_image,
            broken_image,
        } => {
            let mut runtime = match (node, openclaw, machines_dir) {
                (Some(node), Some(package), Some(root)) => {
                    Some(MachineRuntime::new(node, package, root))
                }
                _ => None,
            };
            for entry in &openclaw_image {
                let Some((image, dir)) = entry
                    .split_once('=')
                    .filter(|(image, dir)| !image.is_empty() && !dir.is_empty())
                else {
                    eprintln!(
                        "fasterclaw-sim: --openclaw-image must be <image>=<package dir>, not {entry:?}"
                    );
                    return ExitCode::FAILURE;
                };
                if let Some(runtime) = runtime.as_mut() {
                    runtime
                        .images
                        .insert(image.to_owned(), ImageRun::Package(PathBuf::from(dir)));
                }
            }
            let config = FlySimConfig {
                token,
                org_slug: org,
                transition: Duration::from_millis(transition_ms),
                seed,
                rate_limits,
                runtime,
            };
            let sim = match FlySim::start(config, listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            sim.set_broken_images(broken_image);
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
            terminated().await;
            // Dropping the simulator kills its machines' processes.
            drop(sim);
            ExitCode::SUCCESS
        }
        Command::Dev {
            fasterclaw,
            database_url,
            port,
            dir,
            crd,
            node,
            openclaw,
            machines_dir,
        } => {
            let runtime = match (node, openclaw) {
                (Some(node), Some(package)) => Some(MachineRuntime::new(
                    node,
                    package,
                    machines_dir.unwrap_or_else(|| dir.join("machines")),
                )),
                _ => None,
            };
            let options = fasterclaw_sim::dev::DevOptions {
                fasterclaw,
                database_url,
                port,
                dir,
                crd,
                runtime,
            };
            match fasterclaw_sim::dev::run(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fasterclaw-sim dev: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Stripe {
            listen,
            secret_key,
            price,
            webhook_url,
            webhook_secret,
        } => {
            let mut prices = Vec::new();
            for entry in &price {
                let parsed = entry
                    .split_once('=')
                    .and_then(|(id, cents)| Some((id, cents.parse::<i64>().ok()?)));
                match parsed {
                    Some((id, unit_amount)) if !id.is_empty() && unit_amount >= 0 => {
                        prices.push(PriceSeed {
                            id: id.to_owned(),
                            unit_amount,
                        })
                    }
                    _ => {
                        eprintln!(
                            "fasterclaw-sim: --price must be <price id>=<cents>, not {entry:?}"
                        );
                        return ExitCode::FAILURE;
                    }
                }
            }
            let webhook = match (webhook_url, webhook_secret) {
                (Some(url), Some(secret)) if secret.starts_with("whsec_") => {
                    Some(Endpoint { url, secret })
                }
                (Some(_), _) => {
                    eprintln!("fasterclaw-sim: --webhook-secret must start with whsec_");
                    return ExitCode::FAILURE;
                }
                (None, _) => None,
            };
            let config = StripeSimConfig {
                secret_key,
                prices,
                webhook,
            };
            let sim = match StripeSim::start(config, listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("{}", sim.base_url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Command::Telegram {
            listen,
            bot,
            accept_any,
        } => {
            let sim = match TelegramSim::start(listen, accept_any).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for entry in &bot {
                // The entry holds a token: it is never printed.
                let Some((token, username)) = entry
                    .split_once('=')
                    .filter(|(t, u)| !t.is_empty() && !u.is_empty())
                else {
                    eprintln!("fasterclaw-sim: --bot must be <token>=<username>");
                    return ExitCode::FAILURE;
                };
                sim.add_bot(token, username, username.trim_end_matches("_bot"));
            }
            println!("{}", sim.base_url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Command::Google {
            listen,
            client_id,
            client_secret,
            user,
        } => {
            let config = GoogleSimConfig::new(&client_id, &client_secret);
            let sim = match GoogleSim::start(config, listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot start on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for (n, entry) in user.iter().enumerate() {
                let (email, name) = entry.split_once('=').unwrap_or((entry, ""));
                if !email.contains('@') {
                    eprintln!("fasterclaw-sim: --user must be <email> or <email>=<name>");
                    return ExitCode::FAILURE;
                }
                let name = if name.is_empty() {
                    email.split('@').next().unwrap_or(email)
                } else {
                    name
                };
                sim.add_user(GoogleUser::verified(
                    &format!("10000000000000000000{n}"),
                    email,
                    name,
                ));
            }
            println!("{}", sim.issuer());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Command::Models {
            listen,
            unavailable,
            latency_ms,
        } => {
            let sim = match ModelSim::start(listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            sim.set_faults(ModelFaults {
                unavailable_models: unavailable,
                latency_ms,
            });
            println!("{}", sim.base_url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Command::Kube {
            listen,
            kubeconfig,
            crd,
            bookmark_seconds,
            history,
            seed,
            faults,
        } => {
            let config = KubeSimConfig {
                bookmark_interval: Duration::from_secs(bookmark_seconds.max(1)),
                change_log: usize::try_from(history).unwrap_or(usize::MAX),
                seed,
            };
            let sim = match KubeSim::start(config, listen).await {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("fasterclaw-sim: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for path in &crd {
                if let Err(e) = sim.install_crds_from_file(path) {
                    eprintln!("fasterclaw-sim: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if let Some(faults) = faults {
                match serde_json::from_str::<KubeFaults>(&faults) {
                    Ok(faults) => sim.set_faults(faults),
                    Err(e) => {
                        eprintln!("fasterclaw-sim: --faults is not a fault plan: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if let Some(path) = &kubeconfig
                && let Err(e) = sim.write_kubeconfig(path)
            {
                eprintln!("fasterclaw-sim: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("{}", sim.url());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
    }
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}
