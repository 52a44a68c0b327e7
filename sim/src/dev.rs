//! `fasterclaw-sim dev`: the whole control plane on one machine. The stand-ins (the
//! Kubernetes API simulator with the CRD installed, Fly.io, Stripe, Telegram, Google
//! sign-in and the model APIs) run in this process; `fasterclaw controller` and `fasterclaw api` run as
//! child processes against them and the given database, after `fasterclaw migrate run`.
//! With a [`MachineRuntime`], the Fly.io simulator runs each started machine as a local
//! OpenClaw gateway that talks to the Telegram and model stand-ins. Ctrl-C (or SIGTERM,
//! or SIGHUP) stops the children, then everything else, the gateways included.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fly::{FlySim, FlySimConfig, MachineRuntime};
use crate::google::{GoogleSim, GoogleSimConfig};
use crate::kube::{KubeSim, KubeSimConfig};
use crate::models::ModelSim;
use crate::stripe::{PriceSeed, StripeSim, StripeSimConfig};
use crate::telegram::TelegramSim;

/// The keys of a local stack: fixed, so that a database kept between runs stays
/// readable, and never to be used anywhere else.
const DEV_ENCRYPTION_KEY: &str = "00000000000000000000000000000000000000000000000000000000000000de";
const DEV_JWT_SECRET: &str = "fasterclaw-local-development-session-secret";
const DEV_STRIPE_KEY: &str = "sk_test_fasterclaw_local_development";
const DEV_WEBHOOK_SECRET: &str = "whsec_fasterclaw_local_development";
const DEV_GOOGLE_CLIENT: (&str, &str) = (
    "fasterclaw-local-development.apps.googleusercontent.com",
    "fasterclaw-local-development-google-secret",
);
/// The platform's model keys: the model stand-in takes any.
const DEV_MODEL_KEYS: [(&str, &str); 3] = [
    ("ANTHROPIC_API_KEY", "sk-ant-local-development"),
    ("OPENAI_API_KEY", "sk-openai-local-development"),
    ("GOOGLE_API_KEY", "google-local-development"),
];

/// What `dev` needs.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// The `fasterclaw` binary.
    pub fasterclaw: PathBuf,
    /// The database.
    pub database_url: String,
    /// The facade's port; 0 picks a free one.
    pub port: u16,
    /// Where the kubeconfig and the logs go.
    pub dir: PathBuf,
    /// The Instance CRD.
    pub crd: PathBuf,
    /// Run machines as local OpenClaw gateways; without it, machines only change state.
    pub runtime: Option<MachineRuntime>,
}

struct Running {
    name: &'static str,
    child: Child,
}

impl Running {
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn spawn(
    options: &DevOptions,
    dir: &Path,
    name: &'static str,
    args: &[&str],
    env: &[(&str, String)],
) -> Result<Running, String> {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(&options.fasterclaw);
    command
        .args(args)
        .env("DATABASE_URL", &options.database_url)
        .env("ENCRYPTION_KEY", DEV_ENCRYPTION_KEY)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", options.fasterclaw.display()))?;
    Ok(Running { name, child })
}

async fn wait_ready(url: &str, child: &mut Running, log: &Path) -> Result<(), String> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.child.try_wait() {
            return Err(format!(
                "{} exited ({status}); its log: {}",
                child.name,
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "{} was not ready in 30 s; its log: {}",
        child.name,
        log.display()
    ))
}

/// A running stack: the stand-ins in this process, the controller and the facade as
/// child processes. [`Stack::stop`] (or dropping it) stops them all.
pub struct Stack {
    /// The facade's URL.
    pub facade_url: String,
    /// The kubeconfig naming the Kubernetes API simulator.
    pub kubeconfig: PathBuf,
    /// Where the logs go.
    pub dir: PathBuf,
    /// The Kubernetes API simulator.
    pub kube: KubeSim,
    /// The Fly.io simulator.
    pub fly: FlySim,
    /// The Telegram stand-in (any well-formed token is a bot).
    pub telegram: TelegramSim,
    /// The model stand-in.
    pub models: ModelSim,
    /// The Stripe stand-in.
    pub stripe: StripeSim,
    /// The Google sign-in stand-in.
    pub google: GoogleSim,
    controller: Running,
    facade: Running,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("facade_url", &self.facade_url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Migrates the database, starts the stand-ins, then the controller and the facade,
    /// and waits until both are ready.
    pub async fn start(options: &DevOptions) -> Result<Self, String> {
        std::fs::create_dir_all(&options.dir)
            .map_err(|e| format!("{}: {e}", options.dir.display()))?;
        let dir = std::path::absolute(&options.dir)
            .map_err(|e| format!("{}: {e}", options.dir.display()))?;
        let migrate = Command::new(&options.fasterclaw)
            .args(["migrate", "run"])
            .env("DATABASE_URL", &options.database_url)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", options.fasterclaw.display()))?;
        if !migrate.status.success() {
            return Err(format!(
                "the migrations failed: {}",
                String::from_utf8_lossy(&migrate.stderr).trim()
            ));
        }
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        fn io<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
            move |e| format!("the {what} stand-in cannot start: {e}")
        }
        let kube = KubeSim::start(KubeSimConfig::default(), any)
            .await
            .map_err(io("Kubernetes API"))?;
        kube.install_crds_from_file(&options.crd)
            .map_err(|e| format!("{}: {e}", options.crd.display()))?;
        let kubeconfig = dir.join("kubeconfig");
        kube.write_kubeconfig(&kubeconfig)
            .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
        // Machines' files under an absolute root: their processes run in another dir.
        let runtime = match &options.runtime {
            Some(runtime) => Some(MachineRuntime {
                root: std::path::absolute(&runtime.root)
                    .map_err(|e| format!("{}: {e}", runtime.root.display()))?,
                ..runtime.clone()
            }),
            None => None,
        };
        let fly = FlySim::start(
            FlySimConfig {
                runtime,
                ..FlySimConfig::default()
            },
            any,
        )
        .await
        .map_err(io("Fly.io"))?;
        let telegram = TelegramSim::start(any, true)
            .await
            .map_err(io("Telegram"))?;
        let models = ModelSim::start(any).await.map_err(io("model"))?;
        let google = GoogleSim::start(
            GoogleSimConfig::new(DEV_GOOGLE_CLIENT.0, DEV_GOOGLE_CLIENT.1),
            any,
        )
        .await
        .map_err(io("Google"))?;
        let prices = [
            ("price_starter_local", 3900),
            ("price_pro_local", 7900),
            ("price_enterprise_local", 14900),
        ];
        let stripe = StripeSim::start(
            StripeSimConfig {
                secret_key: Some(DEV_STRIPE_KEY.to_owned()),
                prices: prices
                    .iter()
                    .map(|(id, cents)| PriceSeed {
                        id: (*id).to_owned(),
                        unit_amount: *cents,
                    })
                    .collect(),
                webhook: None,
            },
            any,
        )
        .await
        .map_err(io("Stripe"))?;

        let port = if options.port == 0 {
            free_port()?
        } else {
            options.port
        };
        let facade_url = format!("http://127.0.0.1:{port}");
        stripe.set_webhook(&format!("{facade_url}/billing/webhook"), DEV_WEBHOOK_SECRET);
        let metrics = free_port()?;
        let kubeconfig_text = kubeconfig.to_string_lossy().into_owned();
        let mut controller_env = vec![
            ("KUBECONFIG", kubeconfig_text.clone()),
            ("FLY_API_URL", fly.base_url()),
            ("FLY_API_TOKEN", fly.token().to_owned()),
            ("TELEGRAM_API_ROOT", telegram.base_url()),
            ("MODEL_BASE_URL_ANTHROPIC", models.base_url()),
            ("MODEL_BASE_URL_OPENAI", models.openai_base_url()),
            ("MODEL_BASE_URL_GOOGLE", models.google_base_url()),
            ("METRICS_ADDR", format!("127.0.0.1:{metrics}")),
            ("TRANSITION_REQUEUE", "1s".to_owned()),
            ("LEASE_NAMESPACE", "default".to_owned()),
        ];
        controller_env.extend(DEV_MODEL_KEYS.map(|(k, v)| (k, v.to_owned())));
        let mut controller = spawn(
            options,
            &dir,
            "controller",
            &["controller"],
            &controller_env,
        )?;
        let mut facade = spawn(
            options,
            &dir,
            "api",
            &["api"],
            &[
                ("KUBECONFIG", kubeconfig_text),
                ("HOST", "127.0.0.1".to_owned()),
                ("PORT", port.to_string()),
                ("API_JWT_SECRET", DEV_JWT_SECRET.to_owned()),
                ("APP_ENV", "development".to_owned()),
                ("INSTANCE_NAMESPACE", "default".to_owned()),
                ("TELEGRAM_API_URL", telegram.base_url()),
                ("STRIPE_SECRET_KEY", DEV_STRIPE_KEY.to_owned()),
                ("STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET.to_owned()),
                ("STRIPE_API_URL", stripe.base_url()),
                ("STRIPE_PRICE_ID_STARTER", prices[0].0.to_owned()),
                ("STRIPE_PRICE_ID_PRO", prices[1].0.to_owned()),
                ("STRIPE_PRICE_ID_ENTERPRISE", prices[2].0.to_owned()),
                ("GOOGLE_CLIENT_ID", DEV_GOOGLE_CLIENT.0.to_owned()),
                ("GOOGLE_CLIENT_SECRET", DEV_GOOGLE_CLIENT.1.to_owned()),
                ("GOOGLE_ISSUER_URL", google.issuer()),
                (
                    "GOOGLE_REDIRECT_URL",
                    format!("{facade_url}/auth/google/callback"),
                ),
            ],
        )?;
        let started = async {
            wait_ready(
                &format!("{facade_url}/ready"),
                &mut facade,
                &dir.join("api.log"),
            )
            .await?;
            wait_ready(
                &format!("http://127.0.0.1:{metrics}/readyz"),
                &mut controller,
                &dir.join("controller.log"),
            )
            .await
        };
        if let Err(e) = started.await {
            facade.stop();
            controller.stop();
            return Err(e);
        }
        Ok(Self {
            facade_url,
            kubeconfig,
            dir,
            kube,
            fly,
            telegram,
            models,
            stripe,
            google,
            controller,
            facade,
        })
    }

    /// Waits for Ctrl-C, SIGTERM or SIGHUP (`Ok`), or for the controller or the facade
    /// to exit (`Err`).
    pub async fn watch(&mut self) -> Result<(), String> {
        watch(&mut [&mut self.controller, &mut self.facade]).await
    }

    /// Stops the facade and the controller, then the stand-ins: the Fly.io simulator
    /// ends every machine's processes.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.facade.stop();
        self.controller.stop();
    }
}

/// Runs the stack until Ctrl-C, SIGTERM or SIGHUP.
pub async fn run(options: DevOptions) -> Result<(), String> {
    let mut stack = Stack::start(&options).await?;
    let kubeconfig = options.dir.join("kubeconfig");
    let kubeconfig = kubeconfig.to_string_lossy();
    let facade_url = &stack.facade_url;
    println!("FasterClaw is running (development keys; nothing here is for production):");
    println!("  facade:     {facade_url}");
    println!("  docs:       {facade_url}/docs");
    println!("  kubeconfig: {kubeconfig}");
    println!("              kubectl --kubeconfig {kubeconfig} get instances -w");
    println!(
        "  Stripe:     {} (its Checkout pages pay at once)",
        stack.stripe.base_url()
    );
    match stack.fly.runtime() {
        Some(runtime) => println!(
            "  Fly.io:     {} (machines run OpenClaw here: {})",
            stack.fly.base_url(),
            runtime.root.display()
        ),
        None => println!(
            "  Fly.io:     {} (machines only change state)",
            stack.fly.base_url()
        ),
    }
    println!(
        "  Telegram:   {} (any well-formed token is a bot)",
        stack.telegram.base_url()
    );
    println!(
        "  chat:       {} (write to your bot as a Telegram user)",
        stack.telegram.chat_url()
    );
    println!(
        "  models:     {} (Anthropic, OpenAI and Google APIs; answers name the model)",
        stack.models.base_url()
    );
    println!(
        "  Google:     {} (sign in at {}/auth/google with any email)",
        stack.google.issuer(),
        stack.facade_url
    );
    println!("  logs:       {}", options.dir.display());
    println!("Ctrl-C stops everything.");

    let outcome = stack.watch().await;
    stack.stop();
    outcome
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP (`Ok`), or for a child to exit (`Err`).
async fn watch(children: &mut [&mut Running]) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    let mut hangup =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot watch for SIGHUP: {e}"))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                for running in children.iter_mut() {
                    if let Ok(Some(status)) = running.child.try_wait() {
                        return Err(format!("{} exited ({status}); see its log", running.name));
                    }
                }
            }
        }
    }
}
