//! The gateway's health, from what the machine shows (its state, its checks, its exit
//! events, its host) and, when the gateway lives but its channel is not ready, what the
//! channel says of itself; and the heal that calls for. Pure functions, tested as
//! tables: the reconcile carries out the heal and the report writes the verdict.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use super::settings::HealthPolicy;
use crate::crd::{ConditionType, ExitRecord, HealKind, HealthReason, InstanceStatus, PowerState};
use crate::fly::{Machine, MachineState};
use crate::runtime::channels::ChannelTrouble;
use crate::runtime::machine::{HEALTH_CHECK, READY_CHECK};

/// The exits nobody asked for, as the status keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitBook {
    /// The newest.
    pub last_exit: Option<ExitRecord>,
    /// How many since the Instance was created.
    pub restarts: u32,
    /// When those inside the window happened (RFC 3339), newest first.
    pub recent: Vec<String>,
    /// How many this observation added.
    pub new: u32,
}

impl ExitBook {
    /// As the status recorded it.
    pub fn from_status(status: &InstanceStatus) -> Self {
        Self {
            last_exit: status.last_exit.clone(),
            restarts: status.restarts,
            recent: status.recent_exits.clone(),
            new: 0,
        }
    }

    /// Whether the recent exits make a crash loop.
    pub fn crash_loop(&self, policy: &HealthPolicy) -> bool {
        self.recent.len() as u32 >= policy.crash_loop_exits.max(1)
    }
}

/// The most exits the status keeps the times of.
const RECENT_LIMIT: usize = 20;

/// The exit book after looking at the machine's exit events: those newer than the last
/// one recorded are counted; those outside the window are forgotten; a restarted
/// Instance (a new spec, a retry) starts its window over.
pub fn exits(
    previous: &InstanceStatus,
    machine: Option<&Machine>,
    restarted: bool,
    now: DateTime<Utc>,
    policy: &HealthPolicy,
) -> ExitBook {
    let mut book = ExitBook::from_status(previous);
    if restarted {
        book.recent.clear();
    }
    let since_ms = book
        .last_exit
        .as_ref()
        .and_then(|e| parse_time(&e.at))
        .map_or(i64::MIN, |at| at.timestamp_millis());
    // Counted once, whatever status a reconcile starts from: an exit already in the
    // book (its time) is not new.
    let known: Vec<i64> = book
        .recent
        .iter()
        .filter_map(|at| parse_time(at))
        .map(|at| at.timestamp_millis())
        .collect();
    let mut fresh: Vec<_> = machine
        .map(|m| m.events.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.exit())
        .filter(|e| !e.requested_stop && e.at_ms > since_ms && !known.contains(&e.at_ms))
        .collect();
    fresh.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    fresh.dedup_by_key(|e| e.at_ms);
    book.new = fresh.len() as u32;
    book.restarts = book.restarts.saturating_add(book.new);
    if let Some(newest) = fresh.first() {
        book.last_exit = Some(ExitRecord {
            code: newest.code,
            signal: newest.signal,
            oom_killed: newest.oom_killed,
            at: rfc3339_ms(newest.at_ms),
        });
    }
    let window_start =
        now - chrono::Duration::from_std(policy.crash_loop_window).unwrap_or_default();
    let mut recent: Vec<String> = fresh.iter().map(|e| rfc3339_ms(e.at_ms)).collect();
    recent.extend(book.recent);
    recent.retain(|at| parse_time(at).is_some_and(|at| at > window_start));
    recent.dedup();
    recent.truncate(RECENT_LIMIT);
    book.recent = recent;
    book
}

/// What [`assess`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct Look<'a> {
    /// The status as it was.
    pub previous: &'a InstanceStatus,
    /// The machine, as last seen.
    pub machine: Option<&'a Machine>,
    /// The power state the spec asks for.
    pub power: PowerState,
    /// The exits.
    pub exits: &'a ExitBook,
    /// What the Telegram channel said of itself in this reconcile, when it was asked.
    pub channel: Option<&'a ChannelTrouble>,
    /// The bounds.
    pub policy: &'a HealthPolicy,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The `Healthy` condition to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `True`, `False`, or unknown (`None`: not running, or starting).
    pub healthy: Option<bool>,
    /// Why.
    pub reason: HealthReason,
    /// What is wrong, for people.
    pub message: String,
}

impl Verdict {
    fn new(healthy: Option<bool>, reason: HealthReason, message: impl Into<String>) -> Self {
        Self {
            healthy,
            reason,
            message: message.into(),
        }
    }

    /// The condition's `status`.
    pub fn status(&self) -> &'static str {
        match self.healthy {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
    }
}

/// How a check stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// The machine's config has no such check.
    Absent,
    /// Not reported yet (`warning`, or no result).
    Pending,
    /// Passing.
    Passing,
    /// Failing, with what the probe saw.
    Failing,
}

fn check(machine: &Machine, name: &str) -> Check {
    if !machine.config.checks.contains_key(name) {
        return Check::Absent;
    }
    match machine.checks.iter().find(|c| c.name == name) {
        Some(c) if c.status == "passing" => Check::Passing,
        Some(c) if c.status == "critical" => Check::Failing,
        _ => Check::Pending,
    }
}

/// Whether a check is as good as passing (passing, or not configured).
fn fine(check: Check) -> bool {
    matches!(check, Check::Passing | Check::Absent)
}

/// When the machine last started (its newest start, launch, restart or update event).
pub fn started_at(machine: &Machine) -> Option<DateTime<Utc>> {
    machine
        .events
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "start" | "launch" | "restart" | "update"))
        .map(|e| e.timestamp)
        .max()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .or_else(|| parse_time(&machine.updated_at))
}

/// Whether the gateway's check passed on a probe made since `since` (a change of the
/// machine): a result from before it says nothing of the new process. (Fly.io resets
/// a machine's checks when it starts, so an older result cannot follow a restart.)
pub fn passed_since(machine: &Machine, since: DateTime<Utc>) -> bool {
    let Some(check) = machine.checks.iter().find(|c| c.name == HEALTH_CHECK) else {
        return false;
    };
    check.status == "passing"
        && parse_time(&check.updated_at)
            .is_some_and(|probed| probed.timestamp() >= since.timestamp())
}

/// Whether the machine is still within its start-up grace.
fn in_grace(machine: &Machine, policy: &HealthPolicy, now: DateTime<Utc>) -> bool {
    started_at(machine)
        .is_none_or(|at| (now - at).to_std().unwrap_or_default() < policy.startup_grace)
}

/// The previous `Healthy` reason, when it was written.
pub fn previous_reason(status: &InstanceStatus) -> Option<HealthReason> {
    status
        .condition(ConditionType::Healthy)
        .and_then(|c| HealthReason::parse(&c.reason))
}

/// Whether the gateway lives but its channel is not ready after the grace: the one case
/// the channel is asked what is wrong (one command in the machine, never while all is
/// well; an owner's problem is looked at again only as often as such an Instance is,
/// `HEALTH_RECHECK_INTERVAL`, so a revoked token that follows a second poller is told).
pub fn needs_diagnosis(look: &Look<'_>) -> bool {
    let Some(machine) = look.machine else {
        return false;
    };
    machine.state == MachineState::Started
        && look.power == PowerState::Running
        && fine(check(machine, HEALTH_CHECK))
        && check(machine, READY_CHECK) == Check::Failing
        && !in_grace(machine, look.policy, look.now)
}

/// The gateway's health.
pub fn assess(look: &Look<'_>) -> Verdict {
    use HealthReason as R;
    let policy = look.policy;
    let Some(machine) = look.machine.filter(|m| !m.state.is_gone()) else {
        return Verdict::new(None, R::NotRunning, "no machine runs the assistant yet");
    };
    if look.power == PowerState::Stopped {
        return Verdict::new(None, R::NotRunning, "the assistant is stopped, as asked");
    }
    if look.exits.crash_loop(policy) {
        return Verdict::new(
            Some(false),
            R::CrashLoop,
            crash_loop_message(look.exits, policy),
        );
    }
    if machine.host_status == "unreachable" {
        return Verdict::new(
            Some(false),
            R::HostFailed,
            format!(
                "Fly.io cannot reach the host of machine {} in {}: the assistant moves to another host with its data",
                machine.id, machine.region
            ),
        );
    }
    if let Some(message) = recent_oom(look) {
        // Whether it runs again or not, it will run out again: told until the window
        // passes.
        return Verdict::new(Some(false), R::OutOfMemory, message);
    }
    if !machine.state.is_up() {
        if machine.state == MachineState::Stopped
            || machine.state == MachineState::Failed
            || machine.state == MachineState::Suspended
        {
            let exit = look
                .exits
                .last_exit
                .as_ref()
                .map(|e| format!(" (its last exit: code {} at {})", e.code, e.at))
                .unwrap_or_default();
            return Verdict::new(
                Some(false),
                R::Stopped,
                format!(
                    "the machine is {} while the Instance wants it running{exit}; the controller starts it again",
                    machine.state
                ),
            );
        }
        return Verdict::new(
            None,
            R::Starting,
            format!("the machine is {}", machine.state),
        );
    }
    if machine.state != MachineState::Started {
        return Verdict::new(
            None,
            R::Starting,
            format!("the machine is {}", machine.state),
        );
    }
    let live = check(machine, HEALTH_CHECK);
    let ready = check(machine, READY_CHECK);
    if fine(live) && fine(ready) {
        return Verdict::new(
            Some(true),
            R::Healthy,
            "the gateway lives and its Telegram channel is ready",
        );
    }
    let grace = in_grace(machine, policy, look.now);
    if fine(live) {
        // Alive, not ready: the channel (or start-up) holds it back.
        match look.channel {
            Some(ChannelTrouble::TokenRejected(said)) => {
                return Verdict::new(
                    Some(false),
                    R::TelegramTokenRejected,
                    format!(
                        "Telegram refuses the bot's token ({said}): give the Instance a new token from @BotFather; restarting would not help, so the controller waits"
                    ),
                );
            }
            Some(ChannelTrouble::Conflict(said)) => {
                return Verdict::new(
                    Some(false),
                    R::TelegramConflict,
                    format!(
                        "another program polls Telegram with the bot's token ({said}): stop it, or give the Instance a token of its own"
                    ),
                );
            }
            Some(ChannelTrouble::Other(said)) => {
                return Verdict::new(
                    Some(false),
                    R::CheckFailing,
                    format!("the gateway lives; its Telegram channel is not ready: {said}"),
                );
            }
            None => {}
        }
        if ready == Check::Failing
            && let Some(owners) = previous_reason(look.previous).filter(|r| r.is_owners())
        {
            // Still the owner's problem: as it was told.
            let message = look
                .previous
                .condition(ConditionType::Healthy)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            return Verdict::new(Some(false), owners, message);
        }
        if grace || ready == Check::Pending {
            return Verdict::new(
                None,
                R::Starting,
                "the gateway lives; it is getting ready (start-up, its Telegram channel)",
            );
        }
        return Verdict::new(
            Some(false),
            R::CheckFailing,
            "the gateway lives; its readiness check (/readyz) keeps failing",
        );
    }
    if grace || live == Check::Pending {
        return Verdict::new(None, R::Starting, "the gateway is starting");
    }
    Verdict::new(
        Some(false),
        R::CheckFailing,
        format!(
            "the gateway's health check (/healthz) keeps failing {} after its start",
            humantime::format_duration(policy.startup_grace)
        ),
    )
}

/// The heal a verdict calls for, beyond what the plan does anyway (a machine stopped
/// while wanted running is started by the plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heal {
    /// Stop the machine for good: it crash-loops.
    StopCrashLoop,
    /// Restart the machine.
    Restart,
    /// Make the machine again on its volume.
    Replace,
    /// Move the assistant with its data off a failed host.
    Move,
}

impl Heal {
    /// The kind the status records.
    pub fn kind(self) -> HealKind {
        match self {
            Heal::StopCrashLoop => HealKind::Stopped,
            Heal::Restart => HealKind::Restarted,
            Heal::Replace => HealKind::Replaced,
            Heal::Move => HealKind::Moved,
        }
    }
}

/// What to do about a verdict: nothing for the owner's problems (restarts would not
/// help) nor while starting; for a failing health check, a restart once it has failed
/// for [`HealthPolicy::heal_after`], then (still failing as long again) a replacement,
/// then nothing more (the transition timeout makes the Instance FAILED).
pub fn heal(look: &Look<'_>, verdict: &Verdict) -> Option<Heal> {
    match verdict.reason {
        HealthReason::CrashLoop => Some(Heal::StopCrashLoop),
        HealthReason::HostFailed => Some(Heal::Move),
        HealthReason::CheckFailing => {
            let machine = look.machine?;
            if !matches!(check(machine, HEALTH_CHECK), Check::Failing) {
                // Only a gateway that does not live is restarted; a channel that is not
                // ready is the channel's to recover.
                return None;
            }
            let episode = look.previous.progressing_since.map(|t| t.0);
            let last_heal = look.previous.last_heal.as_ref().filter(|h| {
                parse_time(&h.at).is_some_and(|at| episode.is_none_or(|start| at >= start))
            });
            let since = last_heal
                .and_then(|h| parse_time(&h.at))
                .or(episode)
                .or_else(|| started_at(machine))?;
            if (look.now - since).to_std().unwrap_or_default() < look.policy.heal_after {
                return None;
            }
            match last_heal.map(|h| h.kind) {
                None | Some(HealKind::Started) => Some(Heal::Restart),
                Some(HealKind::Restarted) => Some(Heal::Replace),
                Some(_) => None,
            }
        }
        _ => None,
    }
}

/// When the failure the gateway just recovered from began, if `next` is a recovery:
/// its `Healthy` condition is `True` and was `False` (the failure began when it became
/// `False`), or was only `Unknown` while a heal of this episode restarted or moved it
/// (the failure began with the episode: `progressing_since`).
pub fn recovered_from(previous: &InstanceStatus, next: &InstanceStatus) -> Option<DateTime<Utc>> {
    let before = previous.condition(ConditionType::Healthy)?;
    let after = next.condition(ConditionType::Healthy)?;
    if after.status != "True" {
        return None;
    }
    match before.status.as_str() {
        "False" => DateTime::from_timestamp(before.last_transition_time.0.as_second(), 0),
        "Unknown" => {
            let episode = previous.progressing_since?.0;
            previous
                .last_heal
                .as_ref()
                .and_then(|h| parse_time(&h.at))
                .filter(|at| *at >= episode)
                .map(|_| episode)
        }
        _ => None,
    }
}

/// The message of a crash loop: how many exits in what time, and their codes.
fn crash_loop_message(exits: &ExitBook, policy: &HealthPolicy) -> String {
    let code = exits
        .last_exit
        .as_ref()
        .map(|e| {
            let mut text = format!("the last with code {}", e.code);
            if e.oom_killed {
                text.push_str(", killed for want of memory");
            }
            text
        })
        .unwrap_or_default();
    format!(
        "the gateway exited {} times in {} ({code}); the controller stopped the machine rather than restart it forever: fix the cause, then retry",
        exits.recent.len(),
        humantime::format_duration(policy.crash_loop_window),
    )
}

/// The message of an OOM kill inside the crash-loop window, with the next size up.
fn recent_oom(look: &Look<'_>) -> Option<String> {
    let exit = look.exits.last_exit.as_ref().filter(|e| e.oom_killed)?;
    let at = parse_time(&exit.at)?;
    let window = chrono::Duration::from_std(look.policy.crash_loop_window).ok()?;
    if look.now - at > window {
        return None;
    }
    // The machine's own size (the plan's, or the controller's defaults).
    let (now_cpus, now_memory) = look
        .machine
        .and_then(|m| m.config.guest.as_ref())
        .filter(|g| g.memory_mb > 0)
        .map_or((look.policy.cpus, look.policy.memory_mb), |g| {
            (g.cpus.max(1), g.memory_mb)
        });
    let (cpus, memory) = next_size(now_cpus, now_memory);
    Some(format!(
        "the machine ran out of memory at {} ({now_memory} MB): the kernel killed the gateway; the next size up is {cpus} CPU(s) with {memory} MB (spec.machine, or MACHINE_CPUS and MACHINE_MEMORY_MB)",
        exit.at
    ))
}

/// The next machine size up: twice the memory, with the CPUs Fly.io asks for it
/// (shared CPUs take at most 2 GB each).
pub fn next_size(cpus: u32, memory_mb: u32) -> (u32, u32) {
    let memory = memory_mb.saturating_mul(2).max(512);
    let mut cpus = cpus.max(1);
    while memory > cpus * 2048 {
        cpus *= 2;
    }
    (cpus, memory)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rfc3339_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fly::{CheckStatus, MachineConfig, MachineEvent};
    use crate::runtime::machine::checks;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0)
            .single()
            .unwrap()
    }

    fn ms(second: i64) -> i64 {
        at(second).timestamp_millis()
    }

    fn exit_event(second: i64, code: i64, oom: bool, requested: bool) -> MachineEvent {
        MachineEvent {
            kind: "exit".to_owned(),
            status: "stopped".to_owned(),
            source: "flyd".to_owned(),
            timestamp: ms(second),
            request: json!({ "exit_event": {
                "exit_code": code, "signal": -1, "oom_killed": oom, "requested_stop": requested
            }}),
        }
    }

    fn start_event(second: i64) -> MachineEvent {
        MachineEvent {
            kind: "start".to_owned(),
            status: "started".to_owned(),
            source: "user".to_owned(),
            timestamp: ms(second),
            request: json!({}),
        }
    }

    fn machine(state: &str, live: &str, ready: &str, events: Vec<MachineEvent>) -> Machine {
        let mut out = Machine {
            id: "m1".to_owned(),
            state: MachineState::parse(state),
            region: "lax".to_owned(),
            host_status: "ok".to_owned(),
            config: MachineConfig {
                checks: checks(),
                ..MachineConfig::default()
            },
            events,
            ..Machine::default()
        };
        for (name, status) in [(HEALTH_CHECK, live), (READY_CHECK, ready)] {
            if !status.is_empty() {
                out.checks.push(CheckStatus {
                    name: name.to_owned(),
                    status: status.to_owned(),
                    output: String::new(),
                    updated_at: String::new(),
                });
            }
        }
        out
    }

    fn verdict(
        previous: &InstanceStatus,
        m: &Machine,
        channel: Option<&ChannelTrouble>,
        now: i64,
    ) -> (Verdict, ExitBook) {
        let policy = HealthPolicy::default();
        let book = exits(previous, Some(m), false, at(now), &policy);
        let look = Look {
            previous,
            machine: Some(m),
            power: PowerState::Running,
            exits: &book,
            channel,
            policy: &policy,
            now: at(now),
        };
        (assess(&look), book)
    }

    #[test]
    fn exits_are_counted_once_and_requested_stops_are_not_exits() {
        let policy = HealthPolicy::default();
        let m = machine(
            "started",
            "passing",
            "passing",
            vec![
                exit_event(30, 137, false, false),
                exit_event(20, 0, false, true),
                exit_event(10, 1, false, false),
                start_event(31),
            ],
        );
        let book = exits(&InstanceStatus::default(), Some(&m), false, at(40), &policy);
        assert_eq!(book.new, 2);
        assert_eq!(book.restarts, 2);
        assert_eq!(book.last_exit.as_ref().map(|e| e.code), Some(137));
        assert_eq!(book.recent.len(), 2);
        let status = InstanceStatus {
            last_exit: book.last_exit.clone(),
            restarts: book.restarts,
            recent_exits: book.recent.clone(),
            ..InstanceStatus::default()
        };
        let again = exits(&status, Some(&m), false, at(50), &policy);
        assert_eq!((again.new, again.restarts, again.recent.len()), (0, 2, 2));
        let later = exits(&status, Some(&m), false, at(30 + 16 * 60), &policy);
        assert!(later.recent.is_empty(), "outside the window: {later:?}");
        assert_eq!(later.restarts, 2);
        let retried = exits(&status, Some(&m), true, at(50), &policy);
        assert!(retried.recent.is_empty());
    }

    #[test]
    fn the_verdicts() {
        use HealthReason as R;
        let none = InstanceStatus::default();
        let started = vec![start_event(0)];
        let cases: Vec<(Machine, i64, Option<bool>, R)> = vec![
            (
                machine("started", "passing", "passing", started.clone()),
                300,
                Some(true),
                R::Healthy,
            ),
            (
                machine("started", "warning", "", started.clone()),
                20,
                None,
                R::Starting,
            ),
            (
                machine("started", "critical", "critical", started.clone()),
                20,
                None,
                R::Starting,
            ),
            (
                machine("started", "passing", "critical", started.clone()),
                60,
                None,
                R::Starting,
            ),
            (
                machine("started", "passing", "critical", started.clone()),
                300,
                Some(false),
                R::CheckFailing,
            ),
            (
                machine("started", "critical", "critical", started.clone()),
                300,
                Some(false),
                R::CheckFailing,
            ),
            (
                machine("starting", "", "", started.clone()),
                300,
                None,
                R::Starting,
            ),
            (
                machine("stopped", "", "", started.clone()),
                300,
                Some(false),
                R::Stopped,
            ),
            (
                machine(
                    "started",
                    "passing",
                    "passing",
                    vec![exit_event(200, 137, true, false), start_event(201)],
                ),
                300,
                Some(false),
                R::OutOfMemory,
            ),
            (
                machine(
                    "started",
                    "passing",
                    "passing",
                    vec![exit_event(200, 137, true, false), start_event(201)],
                ),
                200 + 16 * 60,
                Some(true),
                R::Healthy,
            ),
            (
                machine(
                    "started",
                    "passing",
                    "passing",
                    (0..5)
                        .map(|i| exit_event(100 + i * 10, 1, false, false))
                        .collect(),
                ),
                300,
                Some(false),
                R::CrashLoop,
            ),
        ];
        for (m, now, healthy, reason) in cases {
            let (v, _) = verdict(&none, &m, None, now);
            assert_eq!(
                (v.healthy, v.reason),
                (healthy, reason),
                "{m:?} at {now}: {v:?}"
            );
        }
        let mut lost = machine("started", "passing", "passing", started.clone());
        lost.host_status = "unreachable".to_owned();
        assert_eq!(verdict(&none, &lost, None, 300).0.reason, R::HostFailed);
        let oom = machine(
            "started",
            "passing",
            "passing",
            vec![exit_event(200, 137, true, false)],
        );
        assert!(
            verdict(&none, &oom, None, 300)
                .0
                .message
                .contains("4096 MB"),
            "the next size up is named"
        );
    }

    #[test]
    fn the_channel_names_the_owners_problem_which_stays_until_the_channel_is_ready() {
        use HealthReason as R;
        let none = InstanceStatus::default();
        let m = machine("started", "passing", "critical", vec![start_event(0)]);
        let policy = HealthPolicy::default();
        let book = ExitBook::default();
        let look = Look {
            previous: &none,
            machine: Some(&m),
            power: PowerState::Running,
            exits: &book,
            channel: None,
            policy: &policy,
            now: at(300),
        };
        assert!(needs_diagnosis(&look));
        assert!(
            !needs_diagnosis(&Look {
                now: at(30),
                ..look
            }),
            "within the grace"
        );
        let rejected = ChannelTrouble::TokenRejected("401: Unauthorized".to_owned());
        let (v, _) = verdict(&none, &m, Some(&rejected), 300);
        assert_eq!(v.reason, R::TelegramTokenRejected);
        assert_eq!(heal(&look, &v), None, "no restart helps");
        let told = InstanceStatus {
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Healthy".to_owned(),
                status: "False".to_owned(),
                reason: v.reason.as_str().to_owned(),
                message: v.message.clone(),
                observed_generation: None,
                last_transition_time: crate::controller::report::time(at(300)),
            }],
            ..InstanceStatus::default()
        };
        assert!(
            needs_diagnosis(&Look {
                previous: &told,
                ..look
            }),
            "asked again, as often as the Instance is looked at"
        );
        assert_eq!(
            verdict(&told, &m, None, 400).0.reason,
            R::TelegramTokenRejected
        );
        let well = machine("started", "passing", "passing", vec![start_event(0)]);
        assert_eq!(verdict(&told, &well, None, 400).0.reason, R::Healthy);
        let conflict = ChannelTrouble::Conflict("409: Conflict".to_owned());
        assert_eq!(
            verdict(&none, &m, Some(&conflict), 300).0.reason,
            R::TelegramConflict
        );
    }

    #[test]
    fn a_failing_gateway_is_restarted_then_replaced_then_left_to_the_timeout() {
        let m = machine("started", "critical", "critical", vec![start_event(0)]);
        let policy = HealthPolicy::default();
        let book = ExitBook::default();
        let mut previous = InstanceStatus {
            progressing_since: Some(at(100).into()),
            ..InstanceStatus::default()
        };
        let decide = |previous: &InstanceStatus, now: i64| {
            let look = Look {
                previous,
                machine: Some(&m),
                power: PowerState::Running,
                exits: &book,
                channel: None,
                policy: &policy,
                now: at(now),
            };
            heal(&look, &assess(&look))
        };
        assert_eq!(decide(&previous, 200), None, "not failing long enough");
        assert_eq!(decide(&previous, 300), Some(Heal::Restart));
        previous.last_heal = Some(crate::crd::HealRecord {
            kind: HealKind::Restarted,
            message: None,
            at: at(300).to_rfc3339(),
        });
        assert_eq!(decide(&previous, 400), None);
        assert_eq!(decide(&previous, 500), Some(Heal::Replace));
        previous.last_heal = Some(crate::crd::HealRecord {
            kind: HealKind::Replaced,
            message: None,
            at: at(500).to_rfc3339(),
        });
        assert_eq!(decide(&previous, 900), None);
        let only_ready = machine("started", "passing", "critical", vec![start_event(0)]);
        let look = Look {
            previous: &InstanceStatus::default(),
            machine: Some(&only_ready),
            power: PowerState::Running,
            exits: &book,
            channel: None,
            policy: &policy,
            now: at(900),
        };
        assert_eq!(
            heal(&look, &assess(&look)),
            None,
            "readiness alone restarts nothing"
        );
    }

    #[test]
    fn the_next_size_doubles_the_memory_with_the_cpus_it_needs() {
        assert_eq!(next_size(1, 2048), (2, 4096));
        assert_eq!(next_size(1, 256), (1, 512));
        assert_eq!(next_size(2, 4096), (4, 8192));
    }

    #[test]
    fn a_passing_check_counts_only_when_probed_since_the_change() {
        let mut m = machine("started", "passing", "passing", vec![start_event(100)]);
        let probed = |m: &mut Machine, second: i64| {
            let at = at(second).to_rfc3339_opts(SecondsFormat::Secs, true);
            for check in &mut m.checks {
                check.updated_at = at.clone();
            }
        };
        probed(&mut m, 90);
        assert!(!passed_since(&m, at(95)), "probed before the change");
        probed(&mut m, 130);
        assert!(passed_since(&m, at(95)));
        m.checks[0].status = "critical".to_owned();
        assert!(!passed_since(&m, at(95)));
        m.checks.clear();
        assert!(!passed_since(&m, at(95)), "no check, no proof");
    }

    #[test]
    fn a_recovery_is_told_after_false_or_after_a_heal_of_the_episode() {
        use crate::crd::HealRecord;
        use crate::domain::Timestamp;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

        let healthy = |status: &str, since: i64| InstanceStatus {
            conditions: vec![Condition {
                type_: ConditionType::Healthy.as_str().to_owned(),
                status: status.to_owned(),
                reason: "Whatever".to_owned(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(
                    k8s_openapi::jiff::Timestamp::from_second(at(since).timestamp()).unwrap(),
                ),
            }],
            ..InstanceStatus::default()
        };
        let now = healthy("True", 500);
        // Failing, then healthy: since it failed.
        assert_eq!(recovered_from(&healthy("False", 100), &now), Some(at(100)));
        // Restarted by a heal, starting (Unknown), then healthy: since the episode began.
        let mut restarting = healthy("Unknown", 300);
        restarting.progressing_since = Some(Timestamp(at(100)));
        restarting.last_heal = Some(HealRecord {
            kind: HealKind::Restarted,
            message: None,
            at: at(290).to_rfc3339(),
        });
        assert_eq!(recovered_from(&restarting, &now), Some(at(100)));
        // A first start (no heal in the episode) is no recovery, nor a heal of an
        // earlier one, nor staying healthy, nor not being healthy yet.
        let mut earlier = restarting.clone();
        earlier.last_heal.as_mut().unwrap().at = at(50).to_rfc3339();
        assert_eq!(recovered_from(&earlier, &now), None);
        restarting.last_heal = None;
        assert_eq!(recovered_from(&restarting, &now), None);
        assert_eq!(recovered_from(&healthy("True", 100), &now), None);
        assert_eq!(
            recovered_from(&healthy("False", 100), &healthy("Unknown", 500)),
            None
        );
    }
}
