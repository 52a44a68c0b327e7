//! The supervisor: starts, stops and restarts machines' processes as the world's
//! transitions ask, and follows their exits.
//!
//! Each machine has a slot whose action lock serializes what is done to its process
//! (a start, a stop, a restart after an exit); a transition that is no longer the
//! machine's latest change (its epoch moved on) does nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::MachineRuntime;
use super::checks::{self, Status};
use super::container::{self, Container, LaunchError, Spec};
use super::duration;
use super::process::{self, Launch, Tracked};
use super::restart::{Backoff, Exit, Policy, exit_request};
use crate::fly::shared::Shared;
use crate::fly::world::{MachineState, StopRequest, Transition};
use crate::sync::lock;

/// Fly's default stop signal.
const DEFAULT_STOP_SIGNAL: Signal = Signal::INT;
/// Fly's default time between the stop signal and SIGKILL.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a running machine's descendants are recorded.
const SCAN_INTERVAL: Duration = Duration::from_millis(500);

/// The processes of every machine.
#[derive(Debug)]
pub struct Runtime {
    config: MachineRuntime,
    slots: Mutex<BTreeMap<(String, String), Arc<Slot>>>,
    execs: Mutex<BTreeMap<u64, Arc<Tracked>>>,
    next_exec: AtomicU64,
}

#[derive(Debug, Default)]
struct Slot {
    action: tokio::sync::Mutex<()>,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    running: Option<Running>,
    generation: u64,
    backoff: Backoff,
    /// The next exit is the OOM killer's.
    oom_pending: bool,
}

#[derive(Debug)]
struct Running {
    generation: u64,
    pid: u32,
    tracked: Arc<Tracked>,
    container: Arc<Container>,
    exit: watch::Receiver<Option<Exit>>,
    requested_stop: bool,
    stop_signal: Signal,
    stop_timeout: Duration,
    started_at: Instant,
    tasks: Vec<AbortHandle>,
}

impl Running {
    fn end_tasks(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Removes a finished exec's processes from the runtime's list.
pub(super) struct ExecGuard<'a> {
    runtime: &'a Runtime,
    id: u64,
}

impl Drop for ExecGuard<'_> {
    fn drop(&mut self) {
        lock(&self.runtime.execs).remove(&self.id);
    }
}

impl Runtime {
    /// A runtime with no machine running.
    pub fn new(config: MachineRuntime) -> Arc<Self> {
        Arc::new(Self {
            config,
            slots: Mutex::new(BTreeMap::new()),
            execs: Mutex::new(BTreeMap::new()),
            next_exec: AtomicU64::new(0),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &MachineRuntime {
        &self.config
    }

    fn slot(&self, app: &str, id: &str) -> Arc<Slot> {
        Arc::clone(
            lock(&self.slots)
                .entry((app.to_owned(), id.to_owned()))
                .or_default(),
        )
    }

    fn existing(&self, app: &str, id: &str) -> Option<Arc<Slot>> {
        lock(&self.slots)
            .get(&(app.to_owned(), id.to_owned()))
            .cloned()
    }

    /// The main process and ports of a running machine.
    pub fn live(&self, app: &str, id: &str) -> Option<super::Live> {
        let slot = self.existing(app, id)?;
        let state = lock(&slot.state);
        let running = state.running.as_ref()?;
        Some(super::Live {
            pid: Some(running.pid),
            ports: running.container.ports.clone(),
        })
    }

    /// [`Runtime::live`] of every running machine, by (app, machine id).
    pub fn all_live(&self) -> BTreeMap<(String, String), super::Live> {
        let keys: Vec<(String, String)> = lock(&self.slots).keys().cloned().collect();
        keys.into_iter()
            .filter_map(|(app, id)| {
                let live = self.live(&app, &id)?;
                Some(((app, id), live))
            })
            .collect()
    }

    /// The container a running machine's process runs in.
    pub fn container(&self, app: &str, id: &str) -> Option<Arc<Container>> {
        let slot = self.existing(app, id)?;
        let state = lock(&slot.state);
        state.running.as_ref().map(|r| Arc::clone(&r.container))
    }

    /// The dir of one machine.
    pub fn machine_dir(&self, app: &str, id: &str) -> PathBuf {
        self.config.machine_dir(app, id)
    }

    /// SIGKILLs every process of an app's machines (the app is gone).
    pub fn kill_app(&self, app: &str) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots)
            .iter()
            .filter(|((a, _), _)| a == app)
            .map(|(_, slot)| Arc::clone(slot))
            .collect();
        for slot in slots {
            kill_slot(&slot);
        }
        lock(&self.slots).retain(|(a, _), _| a != app);
    }

    /// Kills a machine's process as the kernel's OOM killer would (SIGKILL, nobody
    /// asked): its exit event says `oom_killed` and the restart policy applies.
    /// `false` when it runs nothing.
    pub fn oom_kill(&self, app: &str, id: &str) -> bool {
        let Some(slot) = self.existing(app, id) else {
            return false;
        };
        let mut state = lock(&slot.state);
        let Some(running) = state.running.as_ref() else {
            return false;
        };
        let tracked = Arc::clone(&running.tracked);
        state.oom_pending = true;
        drop(state);
        tracked.kill_all();
        true
    }

    /// Ends a machine's process with no word to anyone, as a host that fails takes its
    /// machines down (flyd cannot tell of it).
    pub fn lose(&self, app: &str, id: &str) {
        if let Some(slot) = self.existing(app, id) {
            kill_slot(&slot);
        }
    }

    /// SIGKILLs every process the runtime started, machines' and execs'.
    pub fn kill_everything(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            kill_slot(&slot);
        }
        let execs: Vec<Arc<Tracked>> = lock(&self.execs).values().cloned().collect();
        for tracked in execs {
            tracked.kill_all();
        }
    }

    /// Records an exec's processes until the guard drops.
    pub(super) fn track_exec(&self, tracked: Arc<Tracked>) -> ExecGuard<'_> {
        let id = self.next_exec.fetch_add(1, Ordering::Relaxed);
        lock(&self.execs).insert(id, tracked);
        ExecGuard { runtime: self, id }
    }

    /// Carries out a transition: starts the process for `started`, stops it for
    /// `stopped`, kills it for `destroyed`, then completes the transition.
    pub async fn apply(self: Arc<Self>, shared: Arc<Shared>, transition: Transition) {
        tokio::time::sleep(shared.transition()).await;
        let (app, id) = (transition.app.as_str(), transition.machine.as_str());
        let slot = self.slot(app, id);
        let _action = slot.action.lock().await;
        if !shared.world().is_current(&transition) {
            return;
        }
        match transition.to {
            MachineState::Started => {
                let _ = stop_process(&slot, None, false).await;
                lock(&slot.state).backoff = Backoff::default();
                if !shared.world().is_current(&transition) {
                    return;
                }
                match self.launch(&shared, &slot, app, id) {
                    Ok(()) => {
                        let mut world = shared.world();
                        if !world.finish(&transition) && world.epoch_of(app, id).is_none() {
                            // The app went while the process started.
                            drop(world);
                            kill_slot(&slot);
                        }
                    }
                    Err(e) => launch_failed(&shared, &self.config, app, id, &e),
                }
            }
            MachineState::Stopped => {
                let exit = stop_process(&slot, transition.stop.as_ref(), false).await;
                let request =
                    exit.map(|(exit, restarts)| exit_request(exit, true, false, restarts, false));
                let mut world = shared.world();
                if world.finish_with(&transition, request) {
                    not_running(&mut world, app, id);
                }
            }
            MachineState::Destroyed => {
                let _ = stop_process(&slot, None, true).await;
                shared.world().finish(&transition);
                lock(&self.slots).remove(&(app.to_owned(), id.to_owned()));
            }
            _ => {
                shared.world().finish(&transition);
            }
        }
        shared.changed.notify_waiters();
    }

    /// Starts a machine's process in a fresh container (a broken release's: one that
    /// exits with code 1 at once).
    fn launch(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        slot: &Arc<Slot>,
        app: &str,
        id: &str,
    ) -> Result<(), LaunchError> {
        let (config, secrets, broken) = {
            let world = shared.world();
            let app_state = world.apps.get(app).ok_or(LaunchError::Gone)?;
            let machine = app_state.machines.get(id).ok_or(LaunchError::Gone)?;
            if let Some(wanted) = machine.min_secrets_version
                && wanted > app_state.secrets_version
            {
                return Err(LaunchError::SecretsVersion {
                    wanted,
                    current: app_state.secrets_version,
                });
            }
            let secrets: BTreeMap<String, String> = app_state
                .secrets
                .iter()
                .map(|(name, s)| (name.clone(), s.value.clone()))
                .collect();
            let image = machine.config["image"].as_str().unwrap_or_default();
            let broken = world.broken_images.contains(image) || self.config.exits_at_start(image);
            (machine.config.clone(), secrets, broken)
        };
        self.config
            .ensure_bin_dir()
            .map_err(|e| LaunchError::io("creating the node link", e))?;
        let ports = allocate_ports(&container::internal_ports(&config))?;
        let container = container::plan(&Spec {
            runtime: &self.config,
            app,
            machine: id,
            config: &config,
            secrets: &secrets,
            ports,
        })?;
        let dir = self.config.machine_dir(app, id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LaunchError::io("creating the machine dir", e))?;
        container::prepare(&container)?;
        let argv = if broken {
            container::broken_release_command(config["image"].as_str().unwrap_or_default())
        } else {
            container::command_line(&config)
        };
        let (program, args) = argv.split_first().ok_or(LaunchError::EmptyCommand)?;
        let resolved = container::resolve_program(program, &container)
            .ok_or_else(|| LaunchError::ProgramNotFound(program.clone()))?;
        let args: Vec<String> = args.iter().map(|a| container.layout.map_value(a)).collect();
        let log = process::log_path(&dir);
        let mut child = process::spawn(&Launch {
            arg0: program,
            program: &resolved,
            args: &args,
            container: &container,
            log: Some(&log),
            stdin: false,
        })
        .map_err(|e| LaunchError::io(format!("starting {program}"), e))?;
        let pid = child.id().unwrap_or_default();
        let tracked = Tracked::new(i32::try_from(pid).unwrap_or(i32::MAX));
        let container = Arc::new(container);
        let (exit_tx, exit_rx) = watch::channel(None);
        let generation = {
            let mut state = lock(&slot.state);
            state.generation += 1;
            state.generation
        };

        // The monitor owns the child: it publishes the exit, then handles it.
        {
            let runtime = Arc::clone(self);
            let shared = Arc::clone(shared);
            let slot = Arc::clone(slot);
            let (app, id) = (app.to_owned(), id.to_owned());
            tokio::spawn(async move {
                let exit = match child.wait().await {
                    Ok(status) => Exit::from_status(status),
                    Err(_) => Exit {
                        code: None,
                        signal: None,
                    },
                };
                let _ = exit_tx.send(Some(exit));
                runtime
                    .on_exit(shared, slot, app, id, generation, exit)
                    .await;
            });
        }
        let mut tasks = Vec::new();
        {
            let tracked = Arc::clone(&tracked);
            tasks.push(
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(SCAN_INTERVAL).await;
                        tracked.scan();
                    }
                })
                .abort_handle(),
            );
        }
        shared
            .world()
            .set_checks(app, id, checks::initial(&config).into_values().collect());
        for check in checks::from_config(&config) {
            let host_port = container
                .ports
                .get(&check.port)
                .copied()
                .unwrap_or(check.port);
            let shared = Arc::clone(shared);
            let (app, id) = (app.to_owned(), id.to_owned());
            tasks.push(
                tokio::spawn(async move {
                    tokio::time::sleep(check.grace_period).await;
                    loop {
                        let (status, output) = checks::probe(&check, host_port).await;
                        shared.world().set_check(
                            &app,
                            &id,
                            checks::status_json(&check.name, status, &output),
                        );
                        tokio::time::sleep(check.interval).await;
                    }
                })
                .abort_handle(),
            );
        }
        let stop = &config["stop_config"];
        lock(&slot.state).running = Some(Running {
            generation,
            pid,
            tracked,
            container,
            exit: exit_rx,
            requested_stop: false,
            stop_signal: stop["signal"]
                .as_str()
                .and_then(process::signal_by_name)
                .unwrap_or(DEFAULT_STOP_SIGNAL),
            stop_timeout: duration::from_json(&stop["timeout"]).unwrap_or(DEFAULT_STOP_TIMEOUT),
            started_at: Instant::now(),
            tasks,
        });
        Ok(())
    }

    /// After an exit nobody asked for: the `exit` event, then a restart after the
    /// backoff or `stopped`, as the restart policy says.
    async fn on_exit(
        self: Arc<Self>,
        shared: Arc<Shared>,
        slot: Arc<Slot>,
        app: String,
        id: String,
        generation: u64,
        exit: Exit,
    ) {
        let action = slot.action.lock().await;
        let (running, backoff, oom_killed) = {
            let mut state = lock(&slot.state);
            let ours = state
                .running
                .as_ref()
                .is_some_and(|r| r.generation == generation && !r.requested_stop);
            if !ours {
                return;
            }
            let Some(running) = state.running.take() else {
                return;
            };
            let backoff = state.backoff.after_run(running.started_at.elapsed());
            (running, backoff, std::mem::take(&mut state.oom_pending))
        };
        running.end_tasks();
        running.tracked.kill_all();
        let config = {
            let world = shared.world();
            match world.app(&app).and_then(|a| a.machine(&id)) {
                Ok(machine) if machine.state == MachineState::Started => machine.config.clone(),
                // A request already moved the machine on: its transition takes over.
                _ => return,
            }
        };
        let restart = Policy::from_config(&config).restarts_after(exit, backoff.restarts);
        let request = exit_request(exit, false, restart, backoff.restarts, oom_killed);
        if !restart {
            lock(&slot.state).backoff = backoff;
            let mut world = shared.world();
            world.move_on_its_own(
                &app,
                &id,
                MachineState::Stopped,
                ("exit", "stopped"),
                Some(request),
            );
            not_running(&mut world, &app, &id);
            drop(world);
            shared.changed.notify_waiters();
            return;
        }
        let (delay, next) = backoff.take();
        lock(&slot.state).backoff = next;
        let epoch = {
            let mut world = shared.world();
            let epoch = world.move_on_its_own(
                &app,
                &id,
                MachineState::Restarting,
                ("exit", "restarting"),
                Some(request),
            );
            not_running(&mut world, &app, &id);
            epoch
        };
        shared.changed.notify_waiters();
        drop(action);
        let Some(epoch) = epoch else { return };
        tokio::time::sleep(delay).await;
        let _action = slot.action.lock().await;
        if shared.world().epoch_of(&app, &id) != Some((MachineState::Restarting, epoch)) {
            return;
        }
        match self.launch(&shared, &slot, &app, &id) {
            Ok(()) => {
                shared.world().move_on_its_own(
                    &app,
                    &id,
                    MachineState::Started,
                    ("start", "started"),
                    None,
                );
            }
            Err(e) => launch_failed(&shared, &self.config, &app, &id, &e),
        }
        shared.changed.notify_waiters();
    }
}

/// Ends a slot's process at once (SIGKILL to all of it).
fn kill_slot(slot: &Slot) {
    let running = {
        let mut state = lock(&slot.state);
        if let Some(running) = state.running.as_mut() {
            running.requested_stop = true;
        }
        state.running.take()
    };
    if let Some(running) = running {
        running.end_tasks();
        running.tracked.kill_all();
    }
}

/// Stops a slot's process, if it runs: the stop signal to its group, SIGKILL to all of
/// it when the timeout passes (at once when `force`), and SIGKILL to whatever it left.
/// Returns how it exited and the restarts in a row before.
async fn stop_process(
    slot: &Slot,
    request: Option<&StopRequest>,
    force: bool,
) -> Option<(Exit, u32)> {
    let (tracked, mut exit, signal, timeout, restarts) = {
        let mut state = lock(&slot.state);
        let restarts = state.backoff.restarts;
        let running = state.running.as_mut()?;
        running.requested_stop = true;
        let signal = request
            .and_then(|r| r.signal.as_deref())
            .and_then(process::signal_by_name)
            .unwrap_or(running.stop_signal);
        let timeout = request
            .and_then(|r| r.timeout)
            .unwrap_or(running.stop_timeout);
        (
            Arc::clone(&running.tracked),
            running.exit.clone(),
            signal,
            timeout,
            restarts,
        )
    };
    if !force && signal != Signal::KILL {
        tracked.signal_group(signal);
        let _ = tokio::time::timeout(timeout, exit.wait_for(Option::is_some)).await;
    }
    let exited = exit.borrow().is_some();
    if !exited {
        tracked.kill_all();
        let _ = tokio::time::timeout(Duration::from_secs(10), exit.wait_for(Option::is_some)).await;
    }
    tracked.kill_all();
    let running = lock(&slot.state).running.take();
    if let Some(running) = running {
        running.end_tasks();
    }
    let result = *exit.borrow();
    result.map(|e| (e, restarts))
}

/// A free loopback port for each internal port.
fn allocate_ports(internal: &BTreeSet<u16>) -> Result<BTreeMap<u16, u16>, LaunchError> {
    let mut held = Vec::new();
    let mut ports = BTreeMap::new();
    for port in internal {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| LaunchError::io("allocating a host port", e))?;
        let host = listener
            .local_addr()
            .map_err(|e| LaunchError::io("allocating a host port", e))?
            .port();
        ports.insert(*port, host);
        held.push(listener);
    }
    Ok(ports)
}

/// A launch that failed: the machine is `failed`, with a `launch` event giving why
/// (also written to its log).
fn launch_failed(
    shared: &Shared,
    config: &MachineRuntime,
    app: &str,
    id: &str,
    error: &LaunchError,
) {
    let reason = error.to_string();
    let log = process::log_path(&config.machine_dir(app, id));
    if std::fs::create_dir_all(config.machine_dir(app, id)).is_ok() {
        use std::io::Write;
        if let Ok(mut file) = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
        {
            let _ = writeln!(file, "fasterclaw-sim: failed to launch: {reason}");
        }
    }
    let mut world = shared.world();
    world.move_on_its_own(
        app,
        id,
        MachineState::Failed,
        ("launch", "failed"),
        Some(json!({ "error": reason })),
    );
    not_running(&mut world, app, id);
}

/// Every check of a machine that does not run is critical.
fn not_running(world: &mut crate::fly::world::World, app: &str, id: &str) {
    let config: Option<Value> = world
        .apps
        .get(app)
        .and_then(|a| a.machines.get(id))
        .map(|m| m.config.clone());
    if let Some(config) = config {
        world.set_checks(
            app,
            id,
            checks::all(&config, Status::Critical, checks::NOT_RUNNING),
        );
    }
}
