//! Performing the plan's steps on Fly.io, one after the other, keeping the [`World`]
//! up to date and telling each change as an Event. A refusal is a problem; any other
//! failure an error for the backoff.

use super::desired::{self, DesiredSecrets};
use super::error::Error;
use super::events::{EventReason, Note};
use super::naming;
use super::outcome::{Halt, Outcome, Problem};
use super::plan::Step;
use super::reconcile::Reconciler;
use super::upgrade;
use super::world::World;
use crate::crd::SyncedReason;
use crate::fly::{
    AppCreation, CreateMachine, MachineConfig, MachineFilter, MachineState, UpdateMachine,
    WaitState,
};
use crate::runtime::machine;

/// Longest an export or an import of state may take in a machine.
const STATE_EXEC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The most state (base64) carried from a machine to its successor; more is left to
/// an operator.
const MAX_CARRIED_STATE: usize = 64 * 1024 * 1024;

impl Reconciler<'_> {
    /// Performs the steps, stopping early when a wait ends before the machine gets
    /// there (`world.still_moving`).
    pub(super) async fn act(
        &self,
        steps: &[Step],
        world: &mut World,
        secrets: &DesiredSecrets,
        config: &MachineConfig,
    ) -> Result<(), Halt> {
        for step in steps {
            tracing::debug!(instance = %self.instance.metadata.name.as_deref().unwrap_or_default(), ?step, "step");
            match *step {
                Step::CreateApp => self.create_app(world).await?,
                Step::WriteSecrets => {
                    let version = self
                        .ctx
                        .fly
                        .replace_secrets(&self.app, &secrets.values, &secrets.stale)
                        .await
                        .map_err(Halt::refused)?;
                    world.written_secrets = Some((secrets.digest.clone(), version));
                    let text = format!("wrote the app secrets (version {version})");
                    self.publish(Note::new(EventReason::SecretsUpdated, text))
                        .await;
                }
                Step::Storage => {
                    self.tend_storage(world, secrets, &config.image).await?;
                }
                Step::ExportState => self.export_state(world).await,
                Step::DestroyMachine => self.destroy_machine(world).await?,
                Step::CreateMachine { launch } => {
                    let created = self.create_machine(world, secrets, config, launch).await;
                    self.or_move(world, secrets, created).await?;
                }
                Step::UpdateMachine { launch } => {
                    let updated = self.update_machine(world, config, launch).await;
                    self.or_move(world, secrets, updated).await?;
                }
                Step::Start => {
                    if let Some(machine) = world.machine.as_mut() {
                        let started = self
                            .ctx
                            .fly
                            .start_machine(&self.app, &machine.id)
                            .await
                            .map_err(Halt::from);
                        if started.is_ok() {
                            machine.state = MachineState::Starting;
                        }
                        self.or_move(world, secrets, started).await?;
                    }
                }
                Step::Stop => {
                    if let Some(machine) = world.machine.as_mut() {
                        self.ctx.fly.stop_machine(&self.app, &machine.id).await?;
                        machine.state = MachineState::Stopping;
                    }
                }
                Step::Wait(state) => {
                    if !self.wait(world, state).await? {
                        world.still_moving = true;
                        break;
                    }
                }
            }
            if world.replan {
                break;
            }
        }
        Ok(())
    }

    /// A machine that Fly.io has no room for on its volume's host moves, with its
    /// data, to the next region (the plan then makes it again there); any other
    /// failure stands.
    async fn or_move(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
        result: Result<(), Halt>,
    ) -> Result<(), Halt> {
        match result {
            Err(Halt::Error(Error::Fly(e))) if world.volume.is_some() => match e.shortage() {
                Some(kind) => self.move_volume(world, secrets, kind, &e).await,
                None => Err(Halt::Error(Error::Fly(e))),
            },
            other => other,
        }
    }

    /// Takes the state a machine without a volume keeps on its root file system, to
    /// hand it to the machine that replaces it. Best effort: what cannot be taken is
    /// told, and the replacement goes on.
    async fn export_state(&self, world: &World) {
        let Some(machine) = world.machine.as_ref() else {
            return;
        };
        let command = machine::export_state();
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let exported = self
            .ctx
            .fly
            .exec(&self.app, &machine.id, &command, STATE_EXEC_TIMEOUT)
            .await;
        let failure = match exported {
            Ok(answer) if answer.exit_code == 0 && answer.stdout.len() <= MAX_CARRIED_STATE => {
                let bytes = answer.stdout.trim().len() / 4 * 3;
                self.ctx
                    .carried
                    .keep(&self.uid, answer.stdout.trim().to_owned());
                let text = format!(
                    "took {bytes} bytes of state from machine {} to carry onto the volume",
                    machine.id
                );
                self.publish(Note::new(EventReason::StateCarried, text))
                    .await;
                return;
            }
            Ok(answer) if answer.exit_code == 0 => format!(
                "its state is larger than {} MB; copy it by hand",
                MAX_CARRIED_STATE / 1_000_000
            ),
            Ok(answer) => format!(
                "the export exited {}: {}",
                answer.exit_code,
                answer.stderr.trim().chars().take(200).collect::<String>()
            ),
            Err(e) => e.to_string(),
        };
        let text = format!(
            "the state of machine {} is not carried onto the volume: {failure}",
            machine.id
        );
        self.publish(Note::new(EventReason::StateNotCarried, text))
            .await;
    }

    /// Hands carried state to the machine on the volume, once it runs (its start
    /// command waits for it before the gateway starts).
    pub(super) async fn import_state(&self, world: &World) {
        let Some(state) = self.ctx.carried.peek(&self.uid) else {
            return;
        };
        let Some(machine) = world
            .machine
            .as_ref()
            .filter(|m| m.state == MachineState::Started)
            .filter(|m| machine::mounted_volume(&m.config).is_some())
        else {
            return;
        };
        let command = machine::import_state();
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let imported = self
            .ctx
            .fly
            .exec_with_input(
                &self.app,
                &machine.id,
                &command,
                Some(state),
                STATE_EXEC_TIMEOUT,
            )
            .await;
        match imported {
            Ok(answer) if answer.exit_code == 0 => {
                self.ctx.carried.forget(&self.uid);
                let text = format!(
                    "carried the earlier state onto volume {} of machine {}",
                    machine::mounted_volume(&machine.config).unwrap_or_default(),
                    machine.id
                );
                self.publish(Note::new(EventReason::StateCarried, text))
                    .await;
            }
            Ok(answer) => {
                self.ctx.carried.forget(&self.uid);
                let text = format!(
                    "the earlier state could not be unpacked on machine {} (exit {}): {}",
                    machine.id,
                    answer.exit_code,
                    answer.stderr.trim().chars().take(200).collect::<String>()
                );
                self.publish(Note::new(EventReason::StateNotCarried, text))
                    .await;
            }
            Err(e) => {
                // Kept for the next reconcile.
                tracing::warn!(app = %self.app, error = %e, "cannot hand the carried state over yet");
            }
        }
    }

    /// Destroys the machine, to make it again on the Instance's volume.
    async fn destroy_machine(&self, world: &mut World) -> Result<(), Halt> {
        let Some(machine) = world.machine.take() else {
            return Ok(());
        };
        let fly = &self.ctx.fly;
        fly.delete_machine(&self.app, &machine.id, true).await?;
        match fly
            .wait_machine(
                &self.app,
                &machine.id,
                None,
                WaitState::Destroyed,
                self.ctx.timing.machine_wait,
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let text = format!(
            "destroyed machine {} to make it again on volume {}",
            machine.id,
            world.volume.as_ref().map_or("(none)", |v| v.id.as_str())
        );
        self.publish(Note::new(EventReason::MachineReplaced, text))
            .await;
        Ok(())
    }

    async fn create_app(&self, world: &mut World) -> Result<(), Halt> {
        if self.previous.fly_app_name.is_none() {
            // Recorded before the create, so that after a crash the app is known to be
            // ours even before it carries its marker.
            self.report(world, &Outcome::Synced, None).await?;
        }
        let app = self.app.as_str();
        match self.ctx.fly.create_app_checked(app).await {
            Ok(AppCreation::Created(_)) => {
                let text = format!("created Fly.io app {app}");
                self.publish(Note::new(EventReason::AppCreated, text)).await;
            }
            Ok(AppCreation::Existing(_)) => {
                let ours_by_record = self.previous.fly_app_name.as_deref() == Some(app);
                if !ours_by_record && !self.carries_marker().await? {
                    return Err(Problem::new(
                        SyncedReason::AppNameConflict,
                        format!(
                            "the Fly.io app {app} exists and is not this Instance's: it lacks the {} marker secret",
                            naming::marker_secret(&self.uid)
                        ),
                    )
                    .into());
                }
            }
            Err(e) => return Err(Halt::refused(e)),
        }
        world.app_exists = true;
        Ok(())
    }

    async fn create_machine(
        &self,
        world: &mut World,
        secrets: &DesiredSecrets,
        config: &MachineConfig,
        launch: bool,
    ) -> Result<(), Halt> {
        let fly = &self.ctx.fly;
        let name = naming::machine_name(self.instance);
        // A machine goes where its volume is.
        let region = world
            .volume
            .as_ref()
            .map(|v| v.region.clone())
            .unwrap_or_else(|| self.instance.spec.region.as_str().to_owned());
        let mut config = config.clone();
        if self.ctx.carried.holds(&self.uid) {
            config.files.push(machine::import_flag());
        }
        let request = CreateMachine {
            name: Some(name.clone()),
            region: Some(region),
            config,
            min_secrets_version: self.secrets_version(world),
            skip_launch: !launch,
        };
        let machine = match fly.create_machine(&self.app, request).await {
            Ok(machine) => machine,
            Err(e) if e.is_conflict() => {
                // A machine with our name exists, made by an earlier attempt.
                let named = fly
                    .list_machines(&self.app, &MachineFilter::default())
                    .await?;
                match named
                    .into_iter()
                    .find(|m| m.name == name && m.state != MachineState::Destroyed)
                {
                    Some(m) => m,
                    None => return Err(e.into()),
                }
            }
            Err(e) if e.shortage().is_some() => return Err(e.into()),
            Err(e) => return Err(Halt::refused(e)),
        };
        let text = format!("created machine {} in {}", machine.id, machine.region);
        self.publish(Note::new(EventReason::MachineCreated, text))
            .await;
        world.machine = Some(machine);
        // Recorded at once, before any wait, so a restart finds it.
        self.report(world, &Outcome::Synced, Some(secrets)).await?;
        Ok(())
    }

    async fn update_machine(
        &self,
        world: &mut World,
        config: &MachineConfig,
        launch: bool,
    ) -> Result<(), Halt> {
        let Some(machine) = world.machine.as_ref() else {
            return Ok(());
        };
        let from = machine.config.image.clone();
        // Before the call: whatever the new process reports comes after it.
        let began = chrono::Utc::now();
        let request = UpdateMachine {
            config: desired::updated_config(&machine.config, config),
            current_version: Some(machine.current_version().to_owned()).filter(|v| !v.is_empty()),
            min_secrets_version: self.secrets_version(world),
            skip_launch: !launch,
        };
        let updated = self
            .ctx
            .fly
            .update_machine(&self.app, &machine.id, &request)
            .await
            .map_err(|e| {
                if e.shortage().is_some() {
                    Halt::from(e)
                } else {
                    Halt::refused(e)
                }
            })?;
        let text = format!(
            "updated machine {} to version {}",
            updated.id,
            updated.current_version()
        );
        self.publish(Note::new(EventReason::MachineUpdated, text))
            .await;
        world.machine = Some(updated);
        if !from.is_empty() && from != config.image {
            // The snapshot taken before this image, when the storage step took one.
            let snapshot = world
                .storage
                .volume
                .as_ref()
                .filter(|v| v.snapshot_before_image.as_deref() == Some(config.image.as_str()))
                .and_then(|_| world.storage.snapshots.first())
                .map(|s| s.id.clone());
            let before = self.verdict_before();
            world.upgrade = Some(upgrade::started(
                &from,
                &config.image,
                snapshot,
                began,
                before.as_ref(),
            ));
        }
        Ok(())
    }

    /// Waits for the machine's current version to reach `state`; `false` when it is not
    /// there yet (or moved on: it is looked at afresh).
    async fn wait(&self, world: &mut World, state: WaitState) -> Result<bool, Halt> {
        let fly = &self.ctx.fly;
        let Some(machine) = world.machine.as_mut() else {
            return Ok(true);
        };
        let version = machine.current_version().to_owned();
        let waited = fly
            .wait_machine(
                &self.app,
                &machine.id,
                Some(version.as_str()).filter(|v| !v.is_empty()),
                state,
                self.ctx.timing.machine_wait,
            )
            .await;
        match waited {
            Ok(answer) if answer.ok || answer.state.as_str() == state.as_str() => {
                machine.state = MachineState::parse(state.as_str());
                let (reason, verb) = match state {
                    WaitState::Stopped => (EventReason::MachineStopped, "stopped"),
                    _ => (EventReason::MachineStarted, "started"),
                };
                let text = format!("machine {} {verb}", machine.id);
                self.publish(Note::new(reason, text)).await;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.status() == Some(408) => Ok(false),
            Err(e) if e.status() == Some(400) || e.is_not_found() => {
                // The machine moved on (another version, or it is gone).
                *machine = fly.get_machine(&self.app, &machine.id).await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The secrets version the machine must boot with.
    fn secrets_version(&self, world: &World) -> Option<u64> {
        world
            .written_secrets
            .as_ref()
            .map(|(_, version)| *version)
            .or(self.previous.secrets_version)
    }
}
