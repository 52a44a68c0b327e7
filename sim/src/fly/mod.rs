//! A simulator of the Fly.io Machines API (`https://api.machines.dev/v1`), built from the
//! official OpenAPI document: apps, app secrets with versions, machines with their
//! state machine, `wait`, metadata filters, name uniqueness, 401s and 404s as the real
//! API gives them, volumes with snapshots, forks and mounts (see [`volumes`]), Fly's
//! rate limits (429), seeded fault injection, regions out of room or over quota
//! ([`RegionFaults`]), and broken releases (images whose machines exit at start,
//! [`FlySim::set_broken_images`]).
//! With a [`MachineRuntime`] configured, started machines run as local processes
//! emulating containers of the OpenClaw image (see [`runtime`]), with checks and `exec`,
//! and each volume is a dir that their mounts show.
//!
//! Embed it with [`FlySim::start`]; run it alone with `fasterclaw-sim fly`.

mod admin;
mod api;
mod broken;
mod error;
mod faults;
mod ids;
mod limits;
mod request;
pub mod runtime;
mod shared;
mod volume_api;
mod volume_ops;
pub mod volumes;
mod world;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use api::operation_id;
pub use error::ApiError;
pub use faults::{Decision, Fault, FaultPlan, FaultRule};
pub use runtime::{ImageRun, MachineRuntime};
pub use shared::FlySimConfig;
pub use volumes::{RegionFaults, VolumeState};
pub use world::MachineState;

use shared::Shared;

/// A running simulator. Dropping it stops the server and SIGKILLs every process its
/// machines (and their `exec`s) started.
#[derive(Debug)]
pub struct FlySim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FlySim {
    /// Starts a simulator on `listen` (port 0 picks a free one).
    pub async fn start(config: FlySimConfig, listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let app = api::router(shared.clone()).merge(admin::router(shared.clone()));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Fly simulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// Starts a simulator on a free loopback port with the default configuration.
    pub async fn start_default() -> std::io::Result<Self> {
        Self::start(
            FlySimConfig::default(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token requests must carry.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    /// The whole state (secret values as digests only).
    pub fn state(&self) -> Value {
        admin::snapshot(&self.shared)
    }

    /// Calls so far, by the spec's operation id.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.shared.calls()
    }

    /// Calls so far of one operation.
    pub fn calls_of(&self, operation: &str) -> u64 {
        self.calls().get(operation).copied().unwrap_or(0)
    }

    /// Answers so far of one operation with one status (0 counts cut connections).
    pub fn answers(&self, operation: &str, status: u16) -> u64 {
        self.shared
            .statuses()
            .get(&(operation.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// Answers so far with one status, over every operation.
    pub fn answers_with(&self, status: u16) -> u64 {
        self.shared
            .statuses()
            .iter()
            .filter(|((_, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// Apps and machines ever created: `(apps, machines)`.
    pub fn created(&self) -> (u64, u64) {
        let world = self.shared.world();
        (world.apps_created, world.machines_created)
    }

    /// Forgets the call counts.
    pub fn reset_calls(&self) {
        self.shared.reset_calls();
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.set_faults(plan);
    }

    /// Turns Fly's rate limits on or off.
    pub fn set_rate_limits(&self, enabled: bool) {
        self.shared.set_rate_limits(enabled);
    }

    /// Sets how long state transitions take.
    pub fn set_transition(&self, duration: Duration) {
        self.shared.set_transition(duration);
    }

    /// Makes `image` one that cannot be pulled: machines of it are refused with 422.
    pub fn mark_image_missing(&self, image: &str) {
        self.shared.world().missing_images.insert(image.to_owned());
    }

    /// Makes each of `images` a broken release, and no other: a machine of one exits
    /// with code 1 as soon as it starts (an `exit` event, then what its restart policy
    /// says), with or without a machine runtime. It applies from a machine's next start.
    pub fn set_broken_images(&self, images: impl IntoIterator<Item = String>) {
        self.shared.world().broken_images = images.into_iter().collect();
    }

    /// Makes `image` a broken release too (see [`FlySim::set_broken_images`]).
    pub fn break_image(&self, image: &str) {
        self.shared.world().broken_images.insert(image.to_owned());
    }

    /// The broken releases.
    pub fn broken_images(&self) -> std::collections::BTreeSet<String> {
        self.shared.world().broken_images.clone()
    }

    /// Names of the apps that exist.
    pub fn app_names(&self) -> Vec<String> {
        self.shared.world().apps.keys().cloned().collect()
    }

    /// The state of a machine, if it exists.
    pub fn machine_state(&self, app: &str, machine: &str) -> Option<MachineState> {
        self.shared
            .world()
            .apps
            .get(app)?
            .machines
            .get(machine)
            .map(|m| m.state)
    }

    /// Where machines run, when they run as processes.
    pub fn runtime(&self) -> Option<&MachineRuntime> {
        self.shared.runtime.as_ref().map(|r| r.config())
    }

    /// The host port a running machine's internal port is reachable on.
    pub fn machine_port(&self, app: &str, machine: &str, internal: u16) -> Option<u16> {
        let runtime = self.shared.runtime.as_ref()?;
        runtime.live(app, machine)?.ports.get(&internal).copied()
    }

    /// The pid of a running machine's main process.
    pub fn machine_pid(&self, app: &str, machine: &str) -> Option<u32> {
        self.shared.runtime.as_ref()?.live(app, machine)?.pid
    }

    /// The output of a machine's processes so far (stdout and stderr, and launch
    /// failures), across its starts.
    pub fn machine_log(&self, app: &str, machine: &str) -> Option<String> {
        admin::machine_log(&self.shared, app, machine)
    }

    /// The dir of a machine's files (`rootfs/`, `log`).
    pub fn machine_dir(&self, app: &str, machine: &str) -> Option<PathBuf> {
        Some(self.shared.runtime.as_ref()?.machine_dir(app, machine))
    }

    /// Fails a machine's host (`host_status: unreachable`, its process gone without an exit event, the API refusing all but a look and a forced destroy); `false` without such a machine.
    pub fn fail_host(&self, app: &str, machine: &str) -> bool {
        admin::fail_host(&self.shared, app, machine)
    }

    /// Hangs a machine's gateway: its checks are critical while it is started, through restarts and updates, until the machine is made again; `false` without such a machine, or when machines run as processes.
    pub fn hang(&self, app: &str, machine: &str) -> bool {
        admin::hang(&self.shared, app, machine)
    }

    /// Kills a machine's process as the OOM killer would: its exit event says `oom_killed`; `false` when it runs nothing.
    pub fn oom_kill(&self, app: &str, machine: &str) -> bool {
        admin::oom_kill(&self.shared, app, machine)
    }

    /// Makes a region refuse what Fly refuses when its hosts are full or the
    /// organization is over its quota there (see [`RegionFaults`]); the default clears it.
    pub fn set_region(&self, region: &str, faults: RegionFaults) {
        self.shared.world().set_region(region, faults);
    }

    /// The regions with a switch on.
    pub fn regions(&self) -> BTreeMap<String, RegionFaults> {
        self.shared.world().regions.clone()
    }

    /// An app's volumes as the API shows them (`Volume` objects, deleted ones
    /// included), oldest first; empty when the app does not exist.
    pub fn volumes(&self, app: &str) -> Vec<Value> {
        self.shared
            .world()
            .app(app)
            .map(|a| a.volumes.iter().map(|v| v.to_json(false)).collect())
            .unwrap_or_default()
    }

    /// The state of a volume, if the app has it.
    pub fn volume_state(&self, app: &str, volume: &str) -> Option<VolumeState> {
        Some(
            self.shared
                .world()
                .app(app)
                .ok()?
                .volume(volume)
                .ok()?
                .state(),
        )
    }

    /// The snapshots of a volume (`VolumeSnapshot` objects), oldest first.
    pub fn snapshots(&self, app: &str, volume: &str) -> Vec<Value> {
        self.shared
            .world()
            .list_snapshots(app, volume)
            .ok()
            .and_then(|list| list.as_array().cloned())
            .unwrap_or_default()
    }

    /// The dir a volume's mounts show inside machines, when machines run as processes.
    pub fn volume_dir(&self, volume: &str) -> Option<PathBuf> {
        Some(self.shared.runtime.as_ref()?.config().volume_dir(volume))
    }

    /// The copy of its volume's dir a snapshot holds, when machines run as processes.
    pub fn snapshot_dir(&self, snapshot: &str) -> Option<PathBuf> {
        Some(
            self.shared
                .runtime
                .as_ref()?
                .config()
                .snapshot_dir(snapshot),
        )
    }

    /// The value of an app's secret, for tests that check what reached Fly.
    pub fn secret_value(&self, app: &str, name: &str) -> Option<String> {
        self.shared
            .world()
            .apps
            .get(app)?
            .secrets
            .get(name)
            .map(|s| s.value.clone())
    }
}

impl Drop for FlySim {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(runtime) = &self.shared.runtime {
            runtime.kill_everything();
        }
    }
}
