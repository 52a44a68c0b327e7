//! The billing lifecycle, carried out: for one account, the facts are read (its
//! subscriptions and lapse from Postgres, its Instances from the Kubernetes API, fresh),
//! [`lifecycle::decide`] says what to do, and it is done through the same writes as the
//! owner's own stop, start and delete, each audited. It runs for an account when a
//! Stripe event changed its subscription, and for every account that may need it on a
//! period (`BILLING_CHECK_INTERVAL`). An account is handled under a Postgres advisory
//! lock and its Instances are read under it, so facade replicas never act on it at once
//! nor on what another replica already did; every action is idempotent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::json;
use uuid::Uuid;

use super::error::ApiError;
use super::instances::{PowerChange, active_plan, remove, set_power};
use super::state::AppState;
use crate::billing::entitlements;
use crate::billing::lifecycle::{
    self, Account, Actions, InstanceFacts, LapseRecord, Standing, StopReason,
};
use crate::crd::{Instance, PowerState, annotation, label};
use crate::db::{BillingInstance, BillingLifecycle, InstanceRecord, Lapse, StoreError};

/// Who the audit log names for billing's actions.
const ACTOR: &str = "billing";

/// Runs the check every `interval` until the process ends.
pub fn spawn(state: Arc<AppState>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            check_all(&state).await;
        }
    })
}

/// Checks every account that may need it; an account another replica is checking is
/// left to it.
pub async fn check_all(state: &AppState) {
    let accounts = match state.db.billing_lifecycle().accounts_to_check().await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the accounts the billing lifecycle checks");
            return;
        }
    };
    for user in accounts {
        if let Err(e) = check_account(state, user, false).await {
            tracing::warn!(%user, status = %e.status, error = %e.message, "the billing lifecycle could not finish an account; the next check tries again");
        }
    }
}

/// Brings one account's Instances in line with its billing. With `wait`, waits for
/// another replica checking the same account; without, leaves it to that replica.
pub async fn check_account(state: &AppState, user: Uuid, wait: bool) -> Result<(), ApiError> {
    let mut tx = state.db.pool().begin().await.map_err(StoreError::from)?;
    if !BillingLifecycle::lock_account_in(&mut tx, user, wait).await? {
        return Ok(());
    }
    let subscriptions = BillingLifecycle::subscriptions_in(&mut tx, user).await?;
    let standing = Standing::of(&subscriptions);
    let lapse = BillingLifecycle::lapse_in(&mut tx, user).await?;
    let rows = BillingLifecycle::instances_in(&mut tx, user).await?;
    // Read under the lock, not from the cache: what another replica just wrote counts.
    let listed = state
        .instances
        .list(&ListParams::default().labels(&label::owned_by(user)))
        .await?;
    let by_name: HashMap<String, Instance> = listed
        .items
        .into_iter()
        .map(|i| (i.name_any(), i))
        .collect();
    let account = Account {
        standing,
        lapsed_at: lapse.map(|l| l.lapsed_at),
        deletion_warned_at: lapse.and_then(|l| l.deletion_warned_at),
        instances: rows
            .iter()
            .filter_map(|row| by_name.get(&row.name).map(|i| facts(row, i)))
            .collect(),
    };
    let now = Utc::now();
    let actions = lifecycle::decide(&account, &state.lifecycle, now);
    let status = subscriptions.first().map(|(status, _)| status.clone());
    record_lapse(&mut tx, user, &actions, lapse, status.as_deref()).await?;
    let outcome = if actions.touches_no_instance() {
        Ok(())
    } else {
        act(state, user, standing, &actions).await
    };
    // The lapse is recorded whatever became of the Instances: they are retried.
    tx.commit().await.map_err(StoreError::from)?;
    outcome
}

/// An Instance as billing sees it.
fn facts(row: &BillingInstance, instance: &Instance) -> InstanceFacts {
    let recorded = row.billing_stop.as_deref().and_then(StopReason::parse);
    // The annotation is written first: a stop whose record was lost still counts.
    let annotated = instance
        .annotations()
        .get(annotation::BILLING_STOPPED)
        .and_then(|m| StopReason::of_message(m));
    InstanceFacts {
        id: row.id,
        created_at: row.created_at,
        running: instance.spec.power_state == PowerState::Running,
        billing_stop: recorded.or(annotated),
        deleting: instance.metadata.deletion_timestamp.is_some(),
    }
}

/// Records the lapse as decided, with an audit line for each change.
async fn record_lapse(
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    actions: &Actions,
    before: Option<Lapse>,
    status: Option<&str>,
) -> Result<(), ApiError> {
    let target = format!("user:{user}");
    match actions.lapse {
        None | Some(LapseRecord::Keep) => {}
        Some(LapseRecord::Clear) => {
            BillingLifecycle::clear_lapse_in(tx, user).await?;
            crate::db::AuditLog::record_in(
                tx,
                ACTOR,
                "billing.lapse_ended",
                &target,
                json!({ "since": before.map(|l| l.lapsed_at) }),
            )
            .await?;
        }
        Some(LapseRecord::Set(lapsed_at, deletion_warned_at)) => {
            let lapse = Lapse {
                lapsed_at,
                deletion_warned_at,
            };
            BillingLifecycle::set_lapse_in(tx, user, lapse).await?;
            if before.is_none() {
                crate::db::AuditLog::record_in(
                    tx,
                    ACTOR,
                    "billing.lapse",
                    &target,
                    json!({ "since": lapsed_at, "status": status }),
                )
                .await?;
            }
            if before.and_then(|l| l.deletion_warned_at).is_none()
                && let Some(warned_at) = deletion_warned_at
            {
                crate::db::AuditLog::record_in(
                    tx,
                    ACTOR,
                    "billing.deletion_announced",
                    &target,
                    json!({ "announcedAt": warned_at, "status": status }),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Carries out the Instances' actions, each on its own; the first failure is returned
/// once all were tried.
async fn act(
    state: &AppState,
    user: Uuid,
    standing: Standing,
    actions: &Actions,
) -> Result<(), ApiError> {
    let limit = match standing {
        Standing::Active { limit } => limit,
        _ => 0,
    };
    let machine = if actions.start.is_empty() {
        None
    } else {
        active_plan(state, user)
            .await?
            .map(|(plan, _)| entitlements::machine(plan))
    };
    let mut first_error = None;
    let mut outcome = |result: Result<(), ApiError>| {
        if let Err(e) = result {
            tracing::warn!(%user, status = %e.status, error = %e.message, "a billing action failed");
            first_error.get_or_insert(e);
        }
    };
    for (id, reason) in &actions.stop {
        outcome(stop(state, user, *id, *reason, limit).await);
    }
    for id in &actions.start {
        outcome(start(state, user, *id, machine.clone()).await);
    }
    for id in &actions.delete {
        outcome(delete(state, user, *id).await);
    }
    first_error.map_or(Ok(()), Err)
}

async fn record(state: &AppState, user: Uuid, id: Uuid) -> Result<InstanceRecord, ApiError> {
    state
        .db
        .instances(&state.keyring)
        .find_for_owner(id, user)
        .await?
        .ok_or_else(ApiError::instance_not_found)
}

async fn stop(
    state: &AppState,
    user: Uuid,
    id: Uuid,
    reason: StopReason,
    limit: i32,
) -> Result<(), ApiError> {
    let record = record(state, user, id).await?;
    let message = reason.message(limit);
    set_power(
        state,
        &record,
        &PowerChange::StopForBilling(message.clone()),
    )
    .await?;
    state
        .db
        .billing_lifecycle()
        .set_billing_stop(id, Some(reason.as_str()))
        .await?;
    state
        .db
        .audit()
        .record(
            ACTOR,
            "instance.billing_stop",
            &format!("instance:{id}"),
            json!({ "owner": user, "reason": reason.as_str(), "message": message }),
        )
        .await?;
    tracing::info!(%user, instance = %id, reason = reason.as_str(), "billing stopped an instance");
    Ok(())
}

async fn start(
    state: &AppState,
    user: Uuid,
    id: Uuid,
    machine: Option<crate::crd::MachineSize>,
) -> Result<(), ApiError> {
    let record = record(state, user, id).await?;
    set_power(state, &record, &PowerChange::Run(machine)).await?;
    state
        .db
        .billing_lifecycle()
        .set_billing_stop(id, None)
        .await?;
    state
        .db
        .audit()
        .record(
            ACTOR,
            "instance.billing_start",
            &format!("instance:{id}"),
            json!({ "owner": user }),
        )
        .await?;
    tracing::info!(%user, instance = %id, "billing started an instance it had stopped");
    Ok(())
}

async fn delete(state: &AppState, user: Uuid, id: Uuid) -> Result<(), ApiError> {
    let record = record(state, user, id).await?;
    remove(state, &record).await?;
    state
        .db
        .audit()
        .record(
            ACTOR,
            "instance.billing_delete",
            &format!("instance:{id}"),
            json!({ "owner": user }),
        )
        .await?;
    tracing::info!(%user, instance = %id, "billing deleted an instance past the deletion deadline");
    Ok(())
}
