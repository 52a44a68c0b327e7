//! The Fly client against the Fly simulator, and the simulator against Fly's spec.

mod broken_images;
mod calls;
mod concurrency;
mod conformance;
mod faults;
mod logging;
mod machines_run;
mod soak;
mod volumes_sim;

use std::net::SocketAddr;
use std::time::Duration;

use fasterclaw::fly::{CreateMachine, FlyClient, FlyConfig, MachineConfig, RetryPolicy};
use fasterclaw_sim::fly::{FlySim, FlySimConfig};
use secrecy::SecretString;

/// A simulator and a client of it.
pub struct Fly {
    pub sim: FlySim,
    pub client: FlyClient,
}

/// Quick retries, so fault tests run fast.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(2),
    }
}

pub async fn sim_with(config: FlySimConfig) -> FlySim {
    FlySim::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the simulator starts")
}

pub fn sim_config() -> FlySimConfig {
    FlySimConfig {
        transition: Duration::from_millis(20),
        ..FlySimConfig::default()
    }
}

pub fn client_for(sim: &FlySim, token: &str) -> FlyClient {
    FlyClient::new(FlyConfig {
        api_token: SecretString::from(token.to_owned()),
        api_url: sim.base_url().parse().unwrap(),
        org_slug: "personal".to_owned(),
    })
    .unwrap()
    .with_retry_policy(fast_policy())
}

pub async fn fly() -> Fly {
    let sim = sim_with(sim_config()).await;
    let client = client_for(&sim, sim.token());
    Fly { sim, client }
}

pub fn machine(name: &str) -> CreateMachine {
    CreateMachine {
        name: Some(name.to_owned()),
        region: Some("lax".to_owned()),
        config: MachineConfig {
            image: "ghcr.io/openclaw/openclaw:latest".to_owned(),
            env: [("AI_MODEL".to_owned(), "claude-sonnet-5".to_owned())].into(),
            metadata: [("fasterclaw_instance".to_owned(), name.to_owned())].into(),
            ..MachineConfig::default()
        },
        min_secrets_version: None,
        skip_launch: false,
    }
}
