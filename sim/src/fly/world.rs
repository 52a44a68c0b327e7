//! The simulated Fly world: apps, their secrets and their machines, and the rules that
//! change them. Every method is synchronous and runs under the world's lock; timed state
//! transitions are scheduled by the caller (see `api`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::ids;
use super::volumes::{RegionFaults, Volume};

/// A machine state, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    /// Created, not started.
    Created,
    /// Booting.
    Starting,
    /// Running.
    Started,
    /// Its process exited and the restart policy restarts it.
    Restarting,
    /// Shutting down.
    Stopping,
    /// Stopped.
    Stopped,
    /// Suspending to disk.
    Suspending,
    /// Suspended.
    Suspended,
    /// Applying a new config.
    Replacing,
    /// Being destroyed.
    Destroying,
    /// Gone.
    Destroyed,
    /// Failed to start.
    Failed,
}

impl MachineState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Created => "created",
            MachineState::Starting => "starting",
            MachineState::Started => "started",
            MachineState::Restarting => "restarting",
            MachineState::Stopping => "stopping",
            MachineState::Stopped => "stopped",
            MachineState::Suspending => "suspending",
            MachineState::Suspended => "suspended",
            MachineState::Replacing => "replacing",
            MachineState::Destroying => "destroying",
            MachineState::Destroyed => "destroyed",
            MachineState::Failed => "failed",
        }
    }

    /// Whether the machine rests in this state (the `settled` of the wait endpoint).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            MachineState::Created
                | MachineState::Started
                | MachineState::Stopped
                | MachineState::Suspended
                | MachineState::Destroyed
                | MachineState::Failed
        )
    }
}

/// One secret of an app.
#[derive(Clone, Debug)]
pub struct Secret {
    /// The value; never shown by the admin view.
    pub value: String,
    /// When it was first set.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl Secret {
    /// The digest Fly shows instead of the value.
    pub fn digest(&self) -> String {
        hex::encode(&Sha256::digest(self.value.as_bytes())[..8])
    }
}

/// A machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Machine id.
    pub id: String,
    /// Name, unique in its app.
    pub name: String,
    /// Region code.
    pub region: String,
    /// Current state.
    pub state: MachineState,
    /// Current version (also the deprecated `instance_id`).
    pub version: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The config as given.
    pub config: Value,
    /// 6PN address.
    pub private_ip: String,
    /// Events, newest first.
    pub events: Vec<Value>,
    /// Bumped at every state change, so a stale scheduled transition does nothing.
    pub epoch: u64,
    /// The app's secrets version the machine last booted with.
    pub booted_secrets_version: Option<u64>,
    /// The `min_secrets_version` the machine was created or updated with.
    pub min_secrets_version: Option<u64>,
    /// Its checks' statuses (`CheckStatus`), kept only when machines run as processes.
    pub checks: Vec<Value>,
    /// Whether flyd reaches its host: `ok`, or `unreachable` after a host failure.
    pub host_status: &'static str,
    /// Its gateway lives but no longer answers (a fault, for machines that run nothing):
    /// its checks are critical while it is started, through restarts and updates, until
    /// the machine is made again.
    pub hung: bool,
}

impl Machine {
    /// The `Machine` object of the API.
    pub fn to_json(&self) -> Value {
        let metadata = self
            .config
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        json!({
            "id": self.id,
            "name": self.name,
            "state": self.state.as_str(),
            "region": self.region,
            "instance_id": self.version,
            "version": self.version,
            "private_ip": self.private_ip,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "config": self.config,
            "image_ref": image_ref(self.config.get("image").and_then(Value::as_str).unwrap_or_default(), &metadata),
            "events": self.events,
            "checks": if self.checks.is_empty() { self.simulated_checks() } else { Value::from(self.checks.clone()) },
            "host_status": self.host_status,
        })
    }

    /// The results of the config's checks for a machine that runs nothing (no machine
    /// runtime, or before its first probe): a started machine passes them, any other is
    /// critical.
    pub fn simulated_checks(&self) -> Value {
        let Some(checks) = self.config.get("checks").and_then(Value::as_object) else {
            return json!([]);
        };
        let (status, output) = if self.state == MachineState::Started && self.hung {
            ("critical", "simulated: the gateway does not answer")
        } else if self.state == MachineState::Started {
            ("passing", "simulated: the machine is started")
        } else {
            ("critical", "the machine is not running")
        };
        Value::from(
            checks
                .keys()
                .map(|name| json!({ "name": name, "status": status, "output": output, "updated_at": self.updated_at }))
                .collect::<Vec<_>>(),
        )
    }
}

fn image_ref(image: &str, _metadata: &Value) -> Value {
    let (rest, tag) = match image.rsplit_once(':') {
        Some((rest, tag)) if !tag.contains('/') => (rest, tag),
        _ => (image, "latest"),
    };
    let (registry, repository) = match rest.split_once('/') {
        Some((first, repo)) if first.contains('.') => (first, repo),
        _ => ("docker-hub-mirror.fly.io", rest),
    };
    json!({ "registry": registry, "repository": repository, "tag": tag, "digest": "", "labels": {} })
}

/// An app.
#[derive(Clone, Debug)]
pub struct App {
    /// App id.
    pub id: String,
    /// Name, unique across Fly.
    pub name: String,
    /// Owning organization.
    pub org_slug: String,
    /// Creation time, in milliseconds.
    pub created_at_ms: i64,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Bumped at every secrets change.
    pub secrets_version: u64,
    /// Machines by id, destroyed ones included.
    pub machines: BTreeMap<String, Machine>,
    /// Volumes, oldest first, deleted ones included.
    pub volumes: Vec<Volume>,
}

impl App {
    /// The `App` object of the API.
    pub fn to_json(&self) -> Value {
        let live = self
            .machines
            .values()
            .filter(|m| m.state != MachineState::Destroyed)
            .count();
        json!({
            "id": self.id,
            "name": self.name,
            "status": if live > 0 { "deployed" } else { "pending" },
            "organization": { "name": self.org_slug, "slug": self.org_slug },
            "machine_count": live,
            "volume_count": self.live_volume_count(),
            "network": "default",
        })
    }

    /// The machine with this id, destroyed ones included.
    pub fn machine(&self, id: &str) -> Result<&Machine, ApiError> {
        self.machines
            .get(id)
            .ok_or_else(|| ApiError::machine_not_found(id))
    }

    /// The machine with this id, to change.
    pub fn machine_mut(&mut self, id: &str) -> Result<&mut Machine, ApiError> {
        self.machines
            .get_mut(id)
            .ok_or_else(|| ApiError::machine_not_found(id))
    }

    /// The machine with this id, when flyd can reach its host: a machine on a failed
    /// host can be looked at and destroyed by force, nothing else.
    pub fn reachable_machine(&self, id: &str) -> Result<&Machine, ApiError> {
        let machine = self.machine(id)?;
        if machine.host_status == "unreachable" {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("failed to reach the host of machine {id}: host unreachable"),
            ));
        }
        Ok(machine)
    }

    fn secrets_json(&self, show_values: bool) -> Value {
        self.secrets
            .iter()
            .map(|(name, secret)| {
                let mut entry = json!({
                    "name": name,
                    "digest": secret.digest(),
                    "created_at": secret.created_at,
                    "updated_at": secret.updated_at,
                });
                if show_values {
                    entry["value"] = json!(secret.value);
                }
                entry
            })
            .collect()
    }
}

/// Everything the simulator knows.
#[derive(Debug)]
pub struct World {
    /// Apps by name.
    pub apps: BTreeMap<String, App>,
    /// Identifiers, times and faults come from this seeded generator.
    pub rng: StdRng,
    /// Apps ever created.
    pub apps_created: u64,
    /// Machines ever created.
    pub machines_created: u64,
    /// Images that cannot be pulled: a machine of one is refused (422), as Fly refuses
    /// an image whose manifest it cannot get.
    pub missing_images: std::collections::BTreeSet<String>,
    /// Broken releases: a machine of one exits with code 1 as soon as it starts (see
    /// [`crate::fly::FlySim::set_broken_images`]).
    pub broken_images: std::collections::BTreeSet<String>,
    /// Regions out of room or over quota (see [`RegionFaults`]).
    pub regions: BTreeMap<String, RegionFaults>,
}

/// A timed transition the caller must schedule after the world's lock is released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// App of the machine.
    pub app: String,
    /// Machine id.
    pub machine: String,
    /// The machine's epoch when scheduled; a later change cancels the transition.
    pub epoch: u64,
    /// The state reached at the end.
    pub to: MachineState,
    /// The event recorded on arrival: (type, status, source).
    pub event: (&'static str, &'static str, &'static str),
    /// For a stop: the signal and timeout the request asked for.
    pub stop: Option<StopRequest>,
}

/// What a stop request asks for; unset parts come from the machine's `stop_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopRequest {
    /// The signal's name (`SIGTERM`, ...).
    pub signal: Option<String>,
    /// How long to wait for the exit before SIGKILL.
    pub timeout: Option<std::time::Duration>,
}

/// Now, as the API writes times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl World {
    /// An empty world.
    pub fn new(rng: StdRng) -> Self {
        Self {
            apps: BTreeMap::new(),
            rng,
            apps_created: 0,
            machines_created: 0,
            missing_images: std::collections::BTreeSet::new(),
            broken_images: std::collections::BTreeSet::new(),
            regions: BTreeMap::new(),
        }
    }

    /// Refuses a machine request whose image cannot be pulled.
    fn check_image(&self, request: &Value) -> Result<(), ApiError> {
        let image = request["config"]["image"].as_str().unwrap_or_default();
        if self.missing_images.contains(image) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "failed to launch VM: failed to get manifest for {image}: manifest unknown"
                ),
            ));
        }
        Ok(())
    }

    /// The image of a machine, when it exists.
    pub fn image_of(&self, app: &str, id: &str) -> Option<&str> {
        self.apps.get(app)?.machines.get(id)?.config["image"].as_str()
    }

    /// The app with this name.
    pub fn app(&self, name: &str) -> Result<&App, ApiError> {
        self.apps
            .get(name)
            .ok_or_else(|| ApiError::app_not_found(name))
    }

    /// The app with this name, to change.
    pub fn app_mut(&mut self, name: &str) -> Result<&mut App, ApiError> {
        self.apps
            .get_mut(name)
            .ok_or_else(|| ApiError::app_not_found(name))
    }

    /// `POST /v1/apps`. Returns the app and whether it is new (false when an earlier
    /// request with the same idempotency key and name created it).
    pub fn create_app(
        &mut self,
        name: &str,
        org_slug: &str,
        idempotency_key: Option<&str>,
    ) -> Result<(Value, bool), ApiError> {
        if let Some(key) = idempotency_key
            && let Some(existing) = self
                .apps
                .values()
                .find(|a| a.idempotency_key.as_deref() == Some(key))
        {
            if existing.name != name {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency key was already used to create a different app",
                )
                .with_code("unknown"));
            }
            return Ok((
                json!({ "id": existing.id, "created_at": existing.created_at_ms }),
                false,
            ));
        }
        if !valid_app_name(name) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation failed: Name may only contain lowercase letters, numbers, and dashes",
            )
            .with_code("unknown"));
        }
        if self.apps.contains_key(name) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation failed: Name has already been taken",
            )
            .with_code("name_taken"));
        }
        let app = App {
            id: ids::app_id(&mut self.rng),
            name: name.to_owned(),
            org_slug: org_slug.to_owned(),
            created_at_ms: now_ms(),
            idempotency_key: idempotency_key.map(str::to_owned),
            secrets: BTreeMap::new(),
            secrets_version: 0,
            machines: BTreeMap::new(),
            volumes: Vec::new(),
        };
        let created = json!({ "id": app.id, "created_at": app.created_at_ms });
        self.apps.insert(name.to_owned(), app);
        self.apps_created += 1;
        Ok((created, true))
    }

    /// `DELETE /v1/apps/{app}`: the app, its secrets, its machines and its volumes go.
    /// Returns what was removed.
    pub fn delete_app(&mut self, name: &str) -> Result<App, ApiError> {
        self.apps
            .remove(name)
            .ok_or_else(|| ApiError::app_not_found(name))
    }

    /// `POST /v1/apps/{app}/secrets`: sets values, unsets nulls; returns the new version.
    pub fn update_secrets(
        &mut self,
        app: &str,
        values: &BTreeMap<String, Option<String>>,
    ) -> Result<Value, ApiError> {
        let app = self.app_mut(app)?;
        let now = now_rfc3339();
        for (name, value) in values {
            match value {
                Some(value) => {
                    let created_at = app
                        .secrets
                        .get(name)
                        .map_or_else(|| now.clone(), |s| s.created_at.clone());
                    app.secrets.insert(
                        name.clone(),
                        Secret {
                            value: value.clone(),
                            created_at,
                            updated_at: now.clone(),
                        },
                    );
                }
                None => {
                    app.secrets.remove(name);
                }
            }
        }
        app.secrets_version += 1;
        Ok(json!({
            "secrets": app.secrets_json(false),
            "version": app.secrets_version,
            "Version": app.secrets_version,
        }))
    }

    /// `GET /v1/apps/{app}/secrets`.
    pub fn list_secrets(
        &self,
        app: &str,
        show_values: bool,
        min_version: Option<u64>,
    ) -> Result<Value, ApiError> {
        let app = self.app(app)?;
        if let Some(min) = min_version
            && min > app.secrets_version
        {
            return Err(ApiError::bad_request(format!(
                "secrets version {min} is not available yet (current version {})",
                app.secrets_version
            )));
        }
        Ok(json!({ "secrets": app.secrets_json(show_values) }))
    }

    /// `POST /v1/apps/{app}/machines`. Returns the machine and, unless `skip_launch`,
    /// the boot to schedule.
    pub fn create_machine(
        &mut self,
        app_name: &str,
        request: &Value,
    ) -> Result<(Value, Option<Transition>), ApiError> {
        self.check_image(request)?;
        let mut config = request.get("config").cloned().unwrap_or_else(|| json!({}));
        if config
            .get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request("config.image is required"));
        }
        let min_secrets_version = request.get("min_secrets_version").and_then(Value::as_u64);
        let skip_launch = request
            .get("skip_launch")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let requested_region = request
            .get("region")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        let (volume, region) = {
            let app = self.app(app_name)?;
            let placed = self.place_new_machine(app, &mut config, requested_region)?;
            let memory = config["guest"]["memory_mb"].as_u64().unwrap_or(256);
            self.check_machine_room(&app.org_slug, &placed.1, placed.0.as_deref(), memory)?;
            placed
        };
        let millis = now_ms();
        let id = ids::machine_id(&mut self.rng);
        let version = ids::ulid(&mut self.rng, millis);
        let private_ip = ids::private_ip(&mut self.rng);
        let event_id = ids::ulid(&mut self.rng, millis);
        let generated_name = format!("machine-{}", &id[..8]);
        let app = self.app_mut(app_name)?;
        check_secrets_version(app, min_secrets_version)?;
        let name = request
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map_or(generated_name, str::to_owned);
        if app
            .machines
            .values()
            .any(|m| m.name == name && m.state != MachineState::Destroyed)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("already_exists: a machine named \"{name}\" exists in app {app_name}"),
            ));
        }
        let now = now_rfc3339();
        let machine = Machine {
            id: id.clone(),
            name,
            region,
            state: MachineState::Created,
            version,
            created_at: now.clone(),
            updated_at: now,
            config,
            private_ip,
            events: vec![event(&event_id, "launch", "created", "user", millis)],
            epoch: 0,
            booted_secrets_version: None,
            min_secrets_version,
            checks: Vec::new(),
            host_status: "ok",
            hung: false,
        };
        let body = machine.to_json();
        app.machines.insert(id.clone(), machine);
        self.machines_created += 1;
        if let Some(volume) = volume {
            self.attach(app_name, &volume, &id);
        }
        let boot = (!skip_launch).then(|| {
            self.begin(
                app_name,
                &id,
                MachineState::Starting,
                MachineState::Started,
                ("start", "started", "flyd"),
            )
        });
        Ok((body, boot.transpose()?))
    }

    /// `POST /v1/apps/{app}/machines/{id}`: a new version with the new config. A running
    /// machine restarts into it; a stopped one stays stopped.
    pub fn update_machine(
        &mut self,
        app_name: &str,
        id: &str,
        request: &Value,
    ) -> Result<(Value, Option<Transition>), ApiError> {
        self.check_image(request)?;
        self.app(app_name)?.reachable_machine(id)?;
        let millis = now_ms();
        let version = ids::ulid(&mut self.rng, millis);
        let event_id = ids::ulid(&mut self.rng, millis);
        let app = self.app_mut(app_name)?;
        let min_secrets_version = request.get("min_secrets_version").and_then(Value::as_u64);
        check_secrets_version(app, min_secrets_version)?;
        let machine = app.machine_mut(id)?;
        if let Some(expected) = request.get("current_version").and_then(Value::as_str)
            && expected != machine.version
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("machine version is {}, not {expected}", machine.version),
            ));
        }
        if let Some(region) = request.get("region").and_then(Value::as_str)
            && !region.is_empty()
            && region != machine.region
        {
            return Err(ApiError::bad_request(
                "region cannot be changed; create a new machine instead",
            ));
        }
        if let Some(name) = request.get("name").and_then(Value::as_str)
            && !name.is_empty()
            && name != machine.name
        {
            return Err(ApiError::bad_request("name cannot be changed"));
        }
        match machine.state {
            MachineState::Destroyed | MachineState::Destroying => {
                return Err(ApiError::machine_not_found(id));
            }
            MachineState::Starting
            | MachineState::Stopping
            | MachineState::Replacing
            | MachineState::Suspending => {
                return Err(ApiError::precondition(format!(
                    "unable to update machine from current state: '{}'",
                    machine.state.as_str()
                )));
            }
            _ => {}
        }
        let was_running = machine.state == MachineState::Started;
        let mut config = request.get("config").cloned().unwrap_or_else(|| json!({}));
        if config
            .get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request("config.image is required"));
        }
        let skip_launch = request
            .get("skip_launch")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        {
            let app = self.app(app_name)?;
            let machine = app.machine(id)?;
            self.check_mount_change(app, machine, &mut config)?;
            if was_running && !skip_launch {
                // A restart re-reserves the machine's resources on its host.
                let memory = config["guest"]["memory_mb"].as_u64().unwrap_or(256);
                self.check_machine_room(&app.org_slug, &machine.region, None, memory)?;
            }
        }
        let machine = self.app_mut(app_name)?.machine_mut(id)?;
        machine.config = config;
        machine.version = version;
        machine.min_secrets_version = min_secrets_version;
        machine.updated_at = now_rfc3339();
        machine
            .events
            .insert(0, event(&event_id, "update", "replacing", "user", millis));
        let body_machine = machine.clone();
        let restart = if was_running && !skip_launch {
            Some(self.begin(
                app_name,
                id,
                MachineState::Replacing,
                MachineState::Started,
                ("start", "started", "flyd"),
            )?)
        } else {
            None
        };
        let app = self.app(app_name)?;
        Ok((
            app.machine(id)
                .map(Machine::to_json)
                .unwrap_or_else(|_| body_machine.to_json()),
            restart,
        ))
    }

    /// `POST .../start`.
    pub fn start_machine(
        &mut self,
        app_name: &str,
        id: &str,
    ) -> Result<(Value, Transition), ApiError> {
        let app = self.app(app_name)?;
        let machine = app.reachable_machine(id)?;
        let previous = machine.state;
        match previous {
            MachineState::Created
            | MachineState::Stopped
            | MachineState::Suspended
            | MachineState::Failed => {}
            MachineState::Destroyed => return Err(ApiError::machine_not_found(id)),
            other => {
                return Err(ApiError::precondition(format!(
                    "unable to start machine from current state: '{}'",
                    other.as_str()
                )));
            }
        }
        let volume = super::volumes::mounted_volume(&machine.config)?;
        let memory = machine.config["guest"]["memory_mb"].as_u64().unwrap_or(256);
        self.check_machine_room(&app.org_slug, &machine.region, volume.as_deref(), memory)?;
        let transition = self.begin(
            app_name,
            id,
            MachineState::Starting,
            MachineState::Started,
            ("start", "started", "flyd"),
        )?;
        Ok((
            json!({ "previous_state": previous.as_str(), "migrated": false, "new_host": "" }),
            transition,
        ))
    }

    /// `POST .../stop`. Stopping a machine that is not running changes nothing.
    pub fn stop_machine(
        &mut self,
        app_name: &str,
        id: &str,
        request: StopRequest,
    ) -> Result<(Value, Option<Transition>), ApiError> {
        let state = self.app(app_name)?.reachable_machine(id)?.state;
        match state {
            MachineState::Started
            | MachineState::Starting
            | MachineState::Replacing
            | MachineState::Restarting => {
                let mut transition = self.begin(
                    app_name,
                    id,
                    MachineState::Stopping,
                    MachineState::Stopped,
                    ("exit", "stopped", "flyd"),
                )?;
                transition.stop = Some(request);
                Ok((json!({ "ok": true }), Some(transition)))
            }
            MachineState::Destroyed => Err(ApiError::machine_not_found(id)),
            MachineState::Destroying => Err(ApiError::precondition(
                "unable to stop machine from current state: 'destroying'",
            )),
            _ => Ok((json!({ "ok": true }), None)),
        }
    }

    /// `DELETE .../{id}`. A running machine needs `force`.
    pub fn delete_machine(
        &mut self,
        app_name: &str,
        id: &str,
        force: bool,
    ) -> Result<(Value, Transition), ApiError> {
        let machine = self.app(app_name)?.machine(id)?;
        if !force {
            self.app(app_name)?.reachable_machine(id)?;
        }
        let state = machine.state;
        match state {
            MachineState::Destroyed => return Err(ApiError::machine_not_found(id)),
            MachineState::Started
            | MachineState::Starting
            | MachineState::Replacing
            | MachineState::Stopping
                if !force =>
            {
                return Err(ApiError::precondition(
                    "failed_precondition: machine still active, refusing to delete; stop it first or use force",
                ));
            }
            _ => {}
        }
        let transition = self.begin(
            app_name,
            id,
            MachineState::Destroying,
            MachineState::Destroyed,
            ("destroy", "destroyed", "user"),
        )?;
        Ok((json!({ "ok": true }), transition))
    }

    /// Puts a machine into `during` now and returns the transition to `to`.
    fn begin(
        &mut self,
        app_name: &str,
        id: &str,
        during: MachineState,
        to: MachineState,
        event: (&'static str, &'static str, &'static str),
    ) -> Result<Transition, ApiError> {
        let machine = self.app_mut(app_name)?.machine_mut(id)?;
        machine.state = during;
        machine.epoch += 1;
        machine.updated_at = now_rfc3339();
        Ok(Transition {
            app: app_name.to_owned(),
            machine: id.to_owned(),
            epoch: machine.epoch,
            to,
            event,
            stop: None,
        })
    }

    /// Completes a scheduled transition, unless the machine changed since. Returns
    /// whether it applied.
    pub fn finish(&mut self, transition: &Transition) -> bool {
        self.finish_with(transition, None)
    }

    /// [`World::finish`], with the event's `request` (an exit's details).
    pub fn finish_with(&mut self, transition: &Transition, request: Option<Value>) -> bool {
        let millis = now_ms();
        let event_id = ids::ulid(&mut self.rng, millis);
        let Some(app) = self.apps.get_mut(&transition.app) else {
            return false;
        };
        let secrets_version = app.secrets_version;
        let Some(machine) = app.machines.get_mut(&transition.machine) else {
            return false;
        };
        if machine.epoch != transition.epoch {
            return false;
        }
        machine.state = transition.to;
        machine.epoch += 1;
        machine.updated_at = now_rfc3339();
        if transition.to == MachineState::Started {
            machine.booted_secrets_version = Some(secrets_version);
        }
        let (kind, status, source) = transition.event;
        let mut entry = event(&event_id, kind, status, source, millis);
        if let Some(request) = request {
            entry["request"] = request;
        }
        machine.events.insert(0, entry);
        machine.events.truncate(50);
        if transition.to == MachineState::Destroyed {
            app.release_volumes(&transition.machine);
        }
        true
    }

    /// The state and epoch of a machine.
    pub fn epoch_of(&self, app: &str, id: &str) -> Option<(MachineState, u64)> {
        let machine = self.apps.get(app)?.machines.get(id)?;
        Some((machine.state, machine.epoch))
    }

    /// Whether a transition is still the machine's latest change.
    pub fn is_current(&self, transition: &Transition) -> bool {
        self.epoch_of(&transition.app, &transition.machine)
            .is_some_and(|(_, epoch)| epoch == transition.epoch)
    }

    /// Moves a machine to `to` on its own (not at a request): records the event and
    /// returns the new epoch, or `None` when the machine is gone.
    pub fn move_on_its_own(
        &mut self,
        app: &str,
        id: &str,
        to: MachineState,
        event_kind: (&str, &str),
        request: Option<Value>,
    ) -> Option<u64> {
        let millis = now_ms();
        let event_id = ids::ulid(&mut self.rng, millis);
        let app = self.apps.get_mut(app)?;
        let secrets_version = app.secrets_version;
        let machine = app.machines.get_mut(id)?;
        machine.state = to;
        machine.epoch += 1;
        machine.updated_at = now_rfc3339();
        if to == MachineState::Started {
            machine.booted_secrets_version = Some(secrets_version);
        }
        let mut entry = event(&event_id, event_kind.0, event_kind.1, "flyd", millis);
        if let Some(request) = request {
            entry["request"] = request;
        }
        machine.events.insert(0, entry);
        machine.events.truncate(50);
        let epoch = machine.epoch;
        if to == MachineState::Destroyed {
            app.release_volumes(id);
        }
        Some(epoch)
    }

    /// Replaces a machine's check statuses.
    pub fn set_checks(&mut self, app: &str, id: &str, checks: Vec<Value>) {
        if let Some(machine) = self.apps.get_mut(app).and_then(|a| a.machines.get_mut(id)) {
            machine.checks = checks;
        }
    }

    /// Replaces the status of one check of a machine.
    pub fn set_check(&mut self, app: &str, id: &str, status: Value) {
        let Some(machine) = self.apps.get_mut(app).and_then(|a| a.machines.get_mut(id)) else {
            return;
        };
        match machine
            .checks
            .iter_mut()
            .find(|c| c["name"] == status["name"])
        {
            Some(existing) => *existing = status,
            None => machine.checks.push(status),
        }
    }
}

fn check_secrets_version(app: &App, min: Option<u64>) -> Result<(), ApiError> {
    match min {
        Some(min) if min > app.secrets_version => Err(ApiError::bad_request(format!(
            "min_secrets_version {min} is newer than the app's secrets (version {})",
            app.secrets_version
        ))),
        _ => Ok(()),
    }
}

fn event(id: &str, kind: &str, status: &str, source: &str, millis: i64) -> Value {
    json!({ "id": id, "type": kind, "status": status, "source": source, "timestamp": millis })
}

/// Fly app names: 2 to 63 lowercase letters, digits and dashes, starting with a letter
/// or digit.
pub fn valid_app_name(name: &str) -> bool {
    (2..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}
