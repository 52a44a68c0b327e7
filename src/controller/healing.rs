//! The gateway's health in a reconcile: the exits seen, the verdict, the heal it calls
//! for (carried out by the plan, or here for a crash loop), the channel asked what is
//! wrong when the gateway lives but is not ready, and the metrics of it all.

use chrono::{SecondsFormat, Utc};
use kube::runtime::controller::Action;

use super::desired::DesiredSecrets;
use super::error::Error;
use super::events::{EventReason, Note};
use super::health::{self, Heal, Look, Verdict};
use super::outcome::{Halt, Outcome, Problem};
use super::plan::Step;
use super::reconcile::Reconciler;
use super::report;
use super::world::World;
use crate::crd::{
    ConditionType, HealKind, HealRecord, HealthReason, InstanceStatus, Phase, SyncedReason,
    UpgradeResult, UpgradeStatus,
};
use crate::fly::{MachineState, WaitState};
use crate::runtime::channels;

/// How long the channel's own account may take to come.
const DIAGNOSIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Reconciler<'_> {
    fn look<'w>(&'w self, world: &'w World) -> Look<'w> {
        Look {
            previous: &self.previous,
            machine: world.machine.as_ref(),
            power: self.power(),
            exits: &world.exits,
            channel: world.channel.as_ref(),
            policy: &self.ctx.health,
            now: Utc::now(),
        }
    }

    /// Counts the exits the machine shows and decides the heal its health calls for
    /// (none for a paused Instance: the gates stop before this).
    pub(super) fn look_at_health(&self, world: &mut World) -> Option<Heal> {
        world.exits = health::exits(
            &self.previous,
            world.machine.as_ref(),
            self.restarted,
            Utc::now(),
            &self.ctx.health,
        );
        if world.exits.new > 0 {
            tracing::info!(
                instance = %self.instance.metadata.name.as_deref().unwrap_or_default(),
                exits = world.exits.new,
                last_code = world.exits.last_exit.as_ref().map(|e| e.code),
                "the gateway exited without being asked to"
            );
        }
        if self.power() != crate::crd::PowerState::Running {
            return None;
        }
        let look = self.look(world);
        let heal = health::heal(&look, &health::assess(&look));
        world.host_failed = heal == Some(Heal::Move);
        heal
    }

    /// A crash loop: the machine is stopped (Fly.io would start it again, and so would
    /// the plan) and the Instance is FAILED `CrashLoop` until it is retried or changed.
    pub(super) async fn stop_crash_loop(
        &self,
        mut world: World,
        secrets: &DesiredSecrets,
    ) -> Result<Action, Error> {
        let verdict = health::assess(&self.look(&world));
        if let Some(machine) = world.machine.as_ref()
            && (machine.state.is_up() || machine.state == MachineState::Restarting)
        {
            let config = super::desired::machine_config(
                self.instance,
                &self.ctx.machine_defaults,
                &self.image(&world),
                world.volume.as_ref().map(|v| v.id.as_str()),
            );
            let steps = [Step::Stop, Step::Wait(WaitState::Stopped)];
            if let Err(halt) = self.act(&steps, &mut world, secrets, &config).await {
                return match halt {
                    Halt::Problem(problem) => {
                        self.finish(&world, Outcome::Problem(problem), Some(secrets))
                            .await
                    }
                    Halt::Error(e) => self.fail(e).await,
                };
            }
            self.healed(&mut world, Heal::StopCrashLoop, &verdict.message)
                .await;
        }
        let problem = Problem::new(SyncedReason::CrashLoop, verdict.message);
        self.finish(&world, Outcome::Problem(problem), Some(secrets))
            .await
    }

    /// Records the heal the plan just carried out: the one health called for, or a
    /// start of a machine that stopped while the Instance (unchanged) wants it running.
    pub(super) async fn record_heal(&self, world: &mut World, heal: Option<Heal>, starts: bool) {
        let was_running = matches!(self.previous.phase, Some(Phase::Running | Phase::Starting));
        let heal = match heal {
            Some(heal @ (Heal::Restart | Heal::Replace | Heal::Move)) => Some(heal),
            _ => None,
        };
        let message = match heal {
            Some(Heal::Restart) => format!(
                "restarted the machine: its gateway failed its health check for {}",
                humantime::format_duration(self.ctx.health.heal_after)
            ),
            Some(Heal::Replace) => format!(
                "made the machine again on its volume: its gateway still failed its health check {} after a restart",
                humantime::format_duration(self.ctx.health.heal_after)
            ),
            Some(Heal::Move) => {
                "moved the assistant with its data off a host Fly.io cannot reach".to_owned()
            }
            _ if starts && was_running && !self.restarted => {
                let exit = world
                    .exits
                    .last_exit
                    .as_ref()
                    .map(|e| format!(" (last exit: code {})", e.code))
                    .unwrap_or_default();
                format!(
                    "started the machine again: it had stopped while the Instance wants it running{exit}"
                )
            }
            _ => return,
        };
        let kind = heal.map_or(HealKind::Started, Heal::kind);
        self.record(world, kind, &message).await;
    }

    async fn healed(&self, world: &mut World, heal: Heal, why: &str) {
        let message = match heal {
            Heal::StopCrashLoop => format!("stopped the machine: {why}"),
            _ => why.to_owned(),
        };
        self.record(world, heal.kind(), &message).await;
    }

    async fn record(&self, world: &mut World, kind: HealKind, message: &str) {
        self.ctx.metrics.healed(kind.as_str());
        self.publish(Note::new(EventReason::Healed, message)).await;
        world.heal = Some(HealRecord {
            kind,
            message: Some(message.to_owned()),
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        });
    }

    /// Asks the Telegram channel what is wrong, when the gateway lives but is not ready
    /// after its grace (one command in the machine, only then).
    pub(super) async fn diagnose_channel(&self, world: &mut World) {
        if !health::needs_diagnosis(&self.look(world)) {
            return;
        }
        let Some(machine) = world.machine.as_ref() else {
            return;
        };
        let command = channels::status_command();
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        match self
            .ctx
            .fly
            .exec(&self.app, &machine.id, &words, DIAGNOSIS_TIMEOUT)
            .await
        {
            Ok(answer) => match channels::trouble(&answer.stdout) {
                Ok(trouble) => world.channel = trouble,
                Err(why) => tracing::warn!(
                    instance = %self.instance.metadata.name.as_deref().unwrap_or_default(),
                    exit_code = answer.exit_code,
                    %why,
                    "the channel's status could not be read"
                ),
            },
            Err(e) => tracing::warn!(
                instance = %self.instance.metadata.name.as_deref().unwrap_or_default(),
                error = %e,
                "the channel's status could not be asked"
            ),
        }
    }

    /// The gateway's health as the status last told it.
    pub(super) fn verdict_before(&self) -> Option<Verdict> {
        kept_verdict(&self.previous)
    }

    /// The gateway's health as this reconcile leaves it; without a look at Fly.io, as
    /// the status had it.
    pub(super) fn verdict(&self, world: &World) -> Verdict {
        if !world.observed
            && let Some(kept) = kept_verdict(&self.previous)
        {
            return kept;
        }
        health::assess(&self.look(world))
    }

    /// The metrics of a status about to be written: the Instance by health, and the
    /// time it took to be healthy again.
    pub(super) fn count_health(&self, next: &InstanceStatus) {
        let reason = report::health_reason(next);
        self.ctx.metrics.set_health(&self.uid, reason.as_str());
        if let Some(since) = health::recovered_from(&self.previous, next) {
            let seconds = (Utc::now() - since).num_milliseconds().max(0) as f64 / 1000.0;
            self.ctx.metrics.recovered(seconds);
        }
    }
}

impl Reconciler<'_> {
    /// Tells a judged change of image: an Event and the metric.
    pub(super) async fn count_upgrade(&self, judged: &UpgradeStatus) {
        let (reason, result, text) = match judged.result {
            UpgradeResult::Upgraded => (
                EventReason::Upgraded,
                "upgraded",
                format!("the gateway is healthy on {}", judged.to),
            ),
            UpgradeResult::Failed => (
                EventReason::UpgradeFailed,
                "failed",
                format!(
                    "the gateway did not become healthy on {} ({}); the snapshot taken before is {}",
                    judged.to,
                    judged.message.as_deref().unwrap_or("unhealthy"),
                    judged.snapshot.as_deref().unwrap_or("none")
                ),
            ),
            UpgradeResult::Upgrading => return,
        };
        self.ctx.metrics.upgrade(result);
        self.publish(Note::new(reason, text)).await;
    }
}

/// The verdict a status carries.
fn kept_verdict(status: &InstanceStatus) -> Option<Verdict> {
    let condition = status.condition(ConditionType::Healthy)?;
    Some(Verdict {
        healthy: match condition.status.as_str() {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        },
        reason: HealthReason::parse(&condition.reason)?,
        message: condition.message.clone(),
    })
}
