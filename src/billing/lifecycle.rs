//! What billing does to an account's Instances, decided from the account's
//! subscriptions, how long it has been without an ACTIVE one, and its Instances. Pure:
//! the facade reads the facts, asks [`decide`], and carries the answer out through the
//! same writes as the owner's own stop, start and delete.
//!
//! - A subscription PAST_DUE or UNPAID: after the grace period its Instances stop
//!   ("Billing: payment failed").
//! - Anything else that is not ACTIVE (CANCELED, at the period's end or at once,
//!   INCOMPLETE_EXPIRED, PAUSED...): they stop at once ("Billing: subscription
//!   canceled").
//! - ACTIVE: the Instances billing stopped start again; over the plan's limit, the most
//!   recently created surplus stops ("Billing: plan allows N instances").
//! - Without an ACTIVE subscription past the deletion deadline, and after the deletion
//!   was announced for the warning period, the Instances are deleted.
//!
//! An account that never had a subscription is left alone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why billing stopped an Instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The subscription is past due or unpaid, past the grace period.
    PaymentFailed,
    /// The subscription ended.
    Canceled,
    /// The plan allows fewer instances than the account has.
    PlanLimit,
}

impl StopReason {
    /// The code the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::Canceled => "canceled",
            Self::PlanLimit => "plan_limit",
        }
    }

    /// Reads a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        [Self::PaymentFailed, Self::Canceled, Self::PlanLimit]
            .into_iter()
            .find(|r| r.as_str() == code)
    }

    /// What the web app shows; `limit` is the plan's instance limit.
    pub fn message(self, limit: i32) -> String {
        match self {
            Self::PaymentFailed => "Billing: payment failed".to_owned(),
            Self::Canceled => "Billing: subscription canceled".to_owned(),
            Self::PlanLimit if limit == 1 => "Billing: plan allows 1 instance".to_owned(),
            Self::PlanLimit => format!("Billing: plan allows {limit} instances"),
        }
    }

    /// The reason a shown message stands for (the Instance's annotation carries the
    /// message).
    pub fn of_message(message: &str) -> Option<Self> {
        if message.starts_with("Billing: payment failed") {
            Some(Self::PaymentFailed)
        } else if message.starts_with("Billing: subscription canceled") {
            Some(Self::Canceled)
        } else if message.starts_with("Billing: plan allows") {
            Some(Self::PlanLimit)
        } else {
            None
        }
    }
}

/// Where an account stands with billing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// It never had a subscription: billing leaves it alone.
    Unsubscribed,
    /// An ACTIVE subscription allowing `limit` instances (-1: any number).
    Active {
        /// The instance limit.
        limit: i32,
    },
    /// The newest subscription is PAST_DUE or UNPAID.
    PaymentFailed,
    /// The newest subscription ended, or is otherwise not ACTIVE.
    Ended,
}

impl Standing {
    /// The standing given an account's subscriptions as `(status, instance limit)`,
    /// newest first.
    pub fn of(subscriptions: &[(String, i32)]) -> Self {
        if let Some((_, limit)) = subscriptions.iter().find(|(status, _)| status == "ACTIVE") {
            return Self::Active { limit: *limit };
        }
        match subscriptions.first().map(|(status, _)| status.as_str()) {
            None => Self::Unsubscribed,
            Some("PAST_DUE" | "UNPAID") => Self::PaymentFailed,
            Some(_) => Self::Ended,
        }
    }
}

/// The periods of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    /// How long a past-due account keeps its Instances running.
    pub grace: Duration,
    /// How long after its subscription stopped being ACTIVE an account's Instances are
    /// deleted.
    pub deletion_deadline: Duration,
    /// How long the deletion is announced before it happens.
    pub deletion_warning: Duration,
}

fn span(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

impl Periods {
    /// When a lapse that began at `since` stops the Instances, by its standing.
    pub fn stops_at(&self, standing: Standing, since: DateTime<Utc>) -> DateTime<Utc> {
        match standing {
            Standing::PaymentFailed => since + span(self.grace),
            _ => since,
        }
    }

    /// When the announcement of the deletion begins.
    pub fn warns_from(&self, since: DateTime<Utc>) -> DateTime<Utc> {
        since + span(self.deletion_deadline) - span(self.deletion_warning)
    }

    /// When the Instances are deleted, once the deletion was announced at `warned_at`:
    /// the deadline, but never before the warning has run its full period.
    pub fn deletes_at(&self, since: DateTime<Utc>, warned_at: DateTime<Utc>) -> DateTime<Utc> {
        (since + span(self.deletion_deadline)).max(warned_at + span(self.deletion_warning))
    }
}

/// One of the account's Instances, as billing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceFacts {
    /// The record's id.
    pub id: Uuid,
    /// When it was created (newer ones stop first over a limit).
    pub created_at: DateTime<Utc>,
    /// Whether its spec asks for it to run.
    pub running: bool,
    /// Why billing stopped it, if billing did.
    pub billing_stop: Option<StopReason>,
    /// Whether it is being deleted already.
    pub deleting: bool,
}

/// What billing knows of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its standing.
    pub standing: Standing,
    /// Since when it has had no ACTIVE subscription, as recorded.
    pub lapsed_at: Option<DateTime<Utc>>,
    /// Since when the deletion has been announced, as recorded.
    pub deletion_warned_at: Option<DateTime<Utc>>,
    /// Its Instances that are not deleted, in any order.
    pub instances: Vec<InstanceFacts>,
}

/// What the record of the lapse becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LapseRecord {
    /// As it is.
    Keep,
    /// The account is in good standing: no lapse.
    Clear,
    /// A lapse since this moment, announced (or not yet) since the second.
    Set(DateTime<Utc>, Option<DateTime<Utc>>),
}

/// What to do to an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// The record of the lapse.
    pub lapse: Option<LapseRecord>,
    /// Instances to stop (or whose recorded reason changes), and why.
    pub stop: Vec<(Uuid, StopReason)>,
    /// Instances billing stopped that start again.
    pub start: Vec<Uuid>,
    /// Instances to delete.
    pub delete: Vec<Uuid>,
}

impl Actions {
    /// Whether nothing is to be done to the Instances.
    pub fn touches_no_instance(&self) -> bool {
        self.stop.is_empty() && self.start.is_empty() && self.delete.is_empty()
    }
}

/// The instances past an instance limit: the most recently created beyond the first
/// `limit` (none when `limit` is -1).
pub fn surplus(instances: &[InstanceFacts], limit: i32) -> Vec<Uuid> {
    let Ok(limit) = usize::try_from(limit) else {
        return Vec::new();
    };
    let mut oldest_first: Vec<&InstanceFacts> = instances.iter().collect();
    oldest_first.sort_by_key(|i| (i.created_at, i.id));
    oldest_first.iter().skip(limit).map(|i| i.id).collect()
}

/// What billing does to `account` at `now`.
pub fn decide(account: &Account, periods: &Periods, now: DateTime<Utc>) -> Actions {
    let mut actions = Actions::default();
    let live: Vec<&InstanceFacts> = account.instances.iter().filter(|i| !i.deleting).collect();
    match account.standing {
        Standing::Unsubscribed => {}
        Standing::Active { limit } => {
            if account.lapsed_at.is_some() {
                actions.lapse = Some(LapseRecord::Clear);
            }
            let live_facts: Vec<InstanceFacts> = live.iter().map(|i| (*i).clone()).collect();
            let over = surplus(&live_facts, limit);
            for instance in &live {
                if over.contains(&instance.id) {
                    // Running, or stopped by billing for another reason: now the limit's.
                    if instance.running
                        || instance
                            .billing_stop
                            .is_some_and(|r| r != StopReason::PlanLimit)
                    {
                        actions.stop.push((instance.id, StopReason::PlanLimit));
                    }
                } else if instance.billing_stop.is_some() {
                    actions.start.push(instance.id);
                }
            }
        }
        Standing::PaymentFailed | Standing::Ended => {
            let reason = if account.standing == Standing::PaymentFailed {
                StopReason::PaymentFailed
            } else {
                StopReason::Canceled
            };
            let since = account.lapsed_at.unwrap_or(now);
            let mut warned = account.deletion_warned_at;
            if warned.is_none() && !live.is_empty() && now >= periods.warns_from(since) {
                warned = Some(now);
            }
            if account.lapsed_at.is_none() || warned != account.deletion_warned_at {
                actions.lapse = Some(LapseRecord::Set(since, warned));
            }
            if let Some(warned_at) = warned
                && now >= periods.deletes_at(since, warned_at)
            {
                actions.delete = live.iter().map(|i| i.id).collect();
                return actions;
            }
            if now >= periods.stops_at(account.standing, since) {
                for instance in &live {
                    let stopped_by_billing_for_another_reason =
                        instance.billing_stop.is_some_and(|r| r != reason);
                    if instance.running || stopped_by_billing_for_another_reason {
                        actions.stop.push((instance.id, reason));
                    }
                }
            }
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn periods() -> Periods {
        Periods {
            grace: 72 * HOUR,
            deletion_deadline: 30 * 24 * HOUR,
            deletion_warning: 7 * 24 * HOUR,
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::TimeDelta::hours(hours)
    }

    fn instance(n: u128, running: bool, billing_stop: Option<StopReason>) -> InstanceFacts {
        InstanceFacts {
            id: Uuid::from_u128(n),
            created_at: at(n as i64),
            running,
            billing_stop,
            deleting: false,
        }
    }

    fn account(standing: Standing, lapsed: Option<i64>, instances: Vec<InstanceFacts>) -> Account {
        Account {
            standing,
            lapsed_at: lapsed.map(at),
            deletion_warned_at: None,
            instances,
        }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn standing_follows_the_subscriptions() {
        let of = |subs: &[(&str, i32)]| {
            Standing::of(
                &subs
                    .iter()
                    .map(|(s, l)| ((*s).to_owned(), *l))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(of(&[]), Standing::Unsubscribed);
        assert_eq!(of(&[("PAST_DUE", 2)]), Standing::PaymentFailed);
        assert_eq!(of(&[("UNPAID", 2)]), Standing::PaymentFailed);
        assert_eq!(of(&[("CANCELED", 2)]), Standing::Ended);
        assert_eq!(of(&[("INCOMPLETE_EXPIRED", 2)]), Standing::Ended);
        assert_eq!(
            of(&[("CANCELED", 2), ("ACTIVE", 10)]),
            Standing::Active { limit: 10 }
        );
    }

    #[test]
    fn a_failed_payment_stops_running_instances_after_the_grace_only() {
        let instances = vec![instance(1, true, None), instance(2, false, None)];
        let first = decide(
            &account(Standing::PaymentFailed, None, instances.clone()),
            &periods(),
            at(100),
        );
        assert_eq!(first.lapse, Some(LapseRecord::Set(at(100), None)));
        assert!(first.touches_no_instance());
        let within = decide(
            &account(Standing::PaymentFailed, Some(100), instances.clone()),
            &periods(),
            at(171),
        );
        assert_eq!(within, Actions::default());
        let after = decide(
            &account(Standing::PaymentFailed, Some(100), instances),
            &periods(),
            at(172),
        );
        // The owner's stopped instance is not billing's.
        assert_eq!(after.stop, [(id(1), StopReason::PaymentFailed)]);
        assert_eq!(after.lapse, None);
    }

    #[test]
    fn an_ended_subscription_stops_them_at_once() {
        let actions = decide(
            &account(
                Standing::Ended,
                None,
                vec![
                    instance(1, true, None),
                    instance(2, false, Some(StopReason::PaymentFailed)),
                ],
            ),
            &periods(),
            at(5),
        );
        assert_eq!(
            actions.stop,
            [(id(1), StopReason::Canceled), (id(2), StopReason::Canceled)]
        );
    }

    #[test]
    fn paying_again_starts_only_what_billing_stopped() {
        let actions = decide(
            &account(
                Standing::Active { limit: 10 },
                Some(1),
                vec![
                    instance(1, false, Some(StopReason::PaymentFailed)),
                    instance(2, false, None),
                    instance(3, true, None),
                ],
            ),
            &periods(),
            at(500),
        );
        assert_eq!(actions.lapse, Some(LapseRecord::Clear));
        assert_eq!(actions.start, [id(1)]);
        assert!(actions.stop.is_empty() && actions.delete.is_empty());
    }

    #[test]
    fn a_downgrade_stops_the_newest_surplus_and_an_upgrade_starts_it() {
        let instances = vec![
            instance(3, true, None),
            instance(1, true, None),
            instance(2, false, None),
        ];
        let down = decide(
            &account(Standing::Active { limit: 1 }, None, instances),
            &periods(),
            at(10),
        );
        // The oldest stays; of the newer two only the running one needs stopping.
        assert_eq!(down.stop, [(id(3), StopReason::PlanLimit)]);
        let up = decide(
            &account(
                Standing::Active { limit: 2 },
                None,
                vec![
                    instance(1, true, None),
                    instance(2, false, None),
                    instance(3, false, Some(StopReason::PlanLimit)),
                ],
            ),
            &periods(),
            at(11),
        );
        assert!(up.touches_no_instance(), "{up:?}");
        let unlimited = decide(
            &account(
                Standing::Active { limit: -1 },
                None,
                vec![
                    instance(1, true, None),
                    instance(3, false, Some(StopReason::PlanLimit)),
                ],
            ),
            &periods(),
            at(12),
        );
        assert_eq!(unlimited.start, [id(3)]);
    }

    #[test]
    fn the_deletion_is_announced_then_carried_out() {
        let instances = vec![instance(1, false, Some(StopReason::Canceled))];
        let lapsed = 0;
        let before_warning = decide(
            &account(Standing::Ended, Some(lapsed), instances.clone()),
            &periods(),
            at(22 * 24),
        );
        assert_eq!(before_warning, Actions::default());
        let warning = decide(
            &account(Standing::Ended, Some(lapsed), instances.clone()),
            &periods(),
            at(23 * 24),
        );
        assert_eq!(
            warning.lapse,
            Some(LapseRecord::Set(at(0), Some(at(23 * 24))))
        );
        assert!(warning.delete.is_empty());
        // Announced late (the facade was down): the warning still runs its period.
        let mut late = account(Standing::Ended, Some(lapsed), instances.clone());
        late.deletion_warned_at = Some(at(29 * 24));
        assert!(decide(&late, &periods(), at(31 * 24)).delete.is_empty());
        assert_eq!(decide(&late, &periods(), at(36 * 24)).delete, [id(1)]);
        let mut due = account(Standing::Ended, Some(lapsed), instances);
        due.deletion_warned_at = Some(at(23 * 24));
        assert_eq!(decide(&due, &periods(), at(30 * 24)).delete, [id(1)]);
        // Being deleted already: nothing more.
        due.instances[0].deleting = true;
        assert!(decide(&due, &periods(), at(30 * 24)).touches_no_instance());
    }

    #[test]
    fn accounts_without_instances_are_not_warned_and_unsubscribed_ones_are_left_alone() {
        let empty = decide(
            &account(Standing::Ended, Some(0), vec![]),
            &periods(),
            at(40 * 24),
        );
        assert_eq!(empty, Actions::default());
        let never = decide(
            &account(Standing::Unsubscribed, None, vec![instance(1, true, None)]),
            &periods(),
            at(1),
        );
        assert_eq!(never, Actions::default());
    }

    #[test]
    fn reasons_round_trip_through_their_codes_and_messages() {
        for reason in [
            StopReason::PaymentFailed,
            StopReason::Canceled,
            StopReason::PlanLimit,
        ] {
            assert_eq!(StopReason::parse(reason.as_str()), Some(reason));
            assert_eq!(StopReason::of_message(&reason.message(3)), Some(reason));
        }
        assert_eq!(
            StopReason::PlanLimit.message(2),
            "Billing: plan allows 2 instances"
        );
        assert_eq!(StopReason::of_message("Stopped by its owner"), None);
    }
}
