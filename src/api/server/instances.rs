//! Instances: each a record in Postgres (owner, sealed token) and an Instance resource
//! that the controller drives. Reads come from the cache; writes go to the resource.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{SecondsFormat, Utc};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{InstanceId, JsonBody, SignedIn};
use super::state::AppState;
use super::views::{self, Seen};
use crate::api::contract::{
    CreateInstanceRequest, InstanceList, InstanceResponse, ProvisioningStatusResponse,
    SuccessResponse, UpdateInstanceRequest, ValidateTelegramTokenRequest,
    ValidateTelegramTokenResponse,
};
use crate::billing::entitlements;
use crate::crd::annotation::{BILLING_STOPPED, RECONCILE_REQUESTED_AT, RETRY_REQUESTED_AT};
use crate::crd::{
    AccountInstance, Instance, InstanceSpec, MachineSize, Phase, TelegramTokenSource,
    field_manager, record_name,
};
use crate::db::{BillingLifecycle, InstanceRecord, NewInstance, StoreError, UserRecord};
use crate::domain::{AiModel, Plan};
use crate::runtime::models;

/// The caller's record of an instance and its Instance, or 404.
pub(super) async fn find(
    state: &AppState,
    user: &UserRecord,
    id: uuid::Uuid,
) -> Result<(InstanceRecord, Option<Arc<Instance>>), ApiError> {
    let record = state
        .db
        .instances(&state.keyring)
        .find_for_owner(id, user.id)
        .await?
        .ok_or_else(ApiError::instance_not_found)?;
    let instance = state.cache.get(&record.name);
    Ok((record, instance))
}

pub(super) fn seen<'a>(state: &AppState, instance: &'a Option<Arc<Instance>>) -> Seen<'a> {
    Seen::of(instance.as_deref(), state.cache.is_synced())
}

pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) async fn patch(
    state: &AppState,
    record: &InstanceRecord,
    patch: Value,
) -> Result<Instance, ApiError> {
    let written = state
        .instances
        .patch(&record.name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    state.cache.remember(written.clone());
    Ok(written)
}

/// The active subscription's plan and instance limit, or `None` without an ACTIVE
/// subscription.
pub(super) async fn active_plan(
    state: &AppState,
    user: uuid::Uuid,
) -> Result<Option<(Option<Plan>, i32)>, ApiError> {
    Ok(state
        .db
        .subscriptions()
        .active_for_user(user)
        .await?
        .map(|s| {
            let plan = state
                .billing
                .catalog
                .plan_of(s.stripe_price_id.as_deref(), s.plan.as_deref());
            (plan, s.instance_limit)
        }))
}

/// Why a power change is asked for: the owner's own, or billing's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PowerChange {
    /// Run, on a machine of this size when given; whatever billing said is cleared.
    Run(Option<MachineSize>),
    /// Stop, as the owner asked.
    Stop,
    /// Stop, for the reason billing shows the owner.
    StopForBilling(String),
}

/// Sets an Instance's power state: the one write behind the owner's start and stop and
/// billing's. Billing's stops carry their reason in an annotation; a start removes it.
pub(super) async fn set_power(
    state: &AppState,
    record: &InstanceRecord,
    change: &PowerChange,
) -> Result<Instance, ApiError> {
    let body = match change {
        PowerChange::Run(machine) => {
            let mut spec = json!({ "powerState": "Running" });
            if let Some(machine) = machine {
                spec["machine"] = json!(machine);
            }
            json!({ "metadata": { "annotations": { BILLING_STOPPED: null } }, "spec": spec })
        }
        PowerChange::Stop => json!({ "spec": { "powerState": "Stopped" } }),
        PowerChange::StopForBilling(reason) => json!({
            "metadata": { "annotations": { BILLING_STOPPED: reason } },
            "spec": { "powerState": "Stopped" },
        }),
    };
    patch(state, record, body).await
}

/// Deletes an Instance: the controller removes its Fly.io machine and app, then the
/// Instance goes and the record is marked deleted. The one deletion behind the owner's
/// and billing's.
pub(super) async fn remove(state: &AppState, record: &InstanceRecord) -> Result<(), ApiError> {
    if record.deleted_at.is_some() {
        return Ok(());
    }
    match state
        .instances
        .delete(&record.name, &DeleteParams::default())
        .await
    {
        Ok(answer) => {
            if let Some(marked) = answer.left() {
                state.cache.remember(marked);
            }
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {
            state
                .db
                .instances(&state.keyring)
                .mark_deleted(record.id)
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

const NO_SUBSCRIPTION: &str = "Active subscription required. Please subscribe to create instances.";

fn limit_reached(limit: i64) -> ApiError {
    ApiError::forbidden(format!(
        "Instance limit reached ({limit}). Please upgrade your plan or delete existing instances."
    ))
}

/// Refuses a model the plan does not include, naming the plan that does.
fn check_entitlement(plan: Option<Plan>, model: Option<&AiModel>) -> Result<(), ApiError> {
    match model.and_then(|m| entitlements::refusal(plan, m)) {
        Some(refusal) => Err(ApiError::forbidden(refusal)),
        None => Ok(()),
    }
}

/// `POST /instances/validate-telegram-token`
pub async fn validate_token(
    State(state): State<Arc<AppState>>,
    SignedIn(_): SignedIn,
    JsonBody(body): JsonBody<ValidateTelegramTokenRequest>,
) -> Json<ValidateTelegramTokenResponse> {
    Json(state.telegram.check(body.token.expose()).await)
}

/// `POST /instances`
pub async fn create(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    JsonBody(body): JsonBody<CreateInstanceRequest>,
) -> Result<(StatusCode, Json<InstanceResponse>), ApiError> {
    check_runtime_fields(Some(&body.ai_model), Some(&body.telegram_user_ids))?;
    let plan = match active_plan(&state, user.id).await? {
        Some((plan, _)) => plan,
        None => return Err(ApiError::forbidden(NO_SUBSCRIPTION)),
    };
    check_entitlement(plan, Some(&body.ai_model))?;
    let id = uuid::Uuid::new_v4();
    let name = record_name(id);
    let records = state.db.instances(&state.keyring);
    let new = NewInstance {
        id,
        owner_id: user.id,
        namespace: &state.namespace,
        name: &name,
        display_name: &body.name,
    };
    let (record, secret_id) = match records
        .create_for_subscriber(new, &body.telegram_bot_token)
        .await
    {
        Err(StoreError::NoActiveSubscription) => {
            return Err(ApiError::forbidden(NO_SUBSCRIPTION));
        }
        Err(StoreError::LimitReached { limit }) => return Err(limit_reached(limit)),
        other => other?,
    };
    let object = AccountInstance {
        record: id,
        namespace: &state.namespace,
        owner: user.id,
        imported_from: None,
        annotations: Default::default(),
        spec: InstanceSpec {
            display_name: body.name.clone(),
            owner_id: user.id.to_string(),
            region: body.region.clone(),
            ai_model: body.ai_model.clone(),
            ai_provider: None,
            telegram_user_ids: body.telegram_user_ids.clone(),
            fallback_regions: Vec::new(),
            storage_gb: None,
            power_state: Default::default(),
            machine: Some(entitlements::machine(plan)),
            telegram_token: TelegramTokenSource {
                stored_secret_id: Some(secret_id),
                secret_key_ref: None,
            },
            deletion_policy: Default::default(),
            image: None,
            adopt: None,
        },
    }
    .build();
    let params = PostParams {
        field_manager: Some(field_manager::FACADE.to_owned()),
        ..PostParams::default()
    };
    let created = match state.instances.create(&params, &object).await {
        Ok(created) => created,
        Err(e) => {
            // Nothing is left behind: the record goes, and its sealed token with it.
            if let Err(cleanup) = records.forget(id).await {
                tracing::error!(error = %cleanup, instance = %id, "cannot remove the record of an instance whose resource failed");
            }
            return Err(e.into());
        }
    };
    state.cache.remember(created.clone());
    Ok((
        StatusCode::CREATED,
        Json(views::instance(&record, Seen::Present(&created))),
    ))
}

/// Refuses a model the pinned OpenClaw does not offer (naming those it does) and user
/// ids that are not Telegram's.
fn check_runtime_fields(model: Option<&AiModel>, user_ids: Option<&[i64]>) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    if let Some(refusal) = model.and_then(models::refusal) {
        problems.push(format!("aiModel: {refusal}"));
    }
    if let Some(ids) = user_ids {
        if ids.iter().any(|id| *id <= 0) {
            problems.push("telegramUserIds: Telegram user ids are positive numbers".to_owned());
        }
        if ids.len() > 64 {
            problems.push("telegramUserIds: at most 64 users".to_owned());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems))
    }
}

/// `GET /instances`
pub async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Json<InstanceList>, ApiError> {
    let records = state
        .db
        .instances(&state.keyring)
        .list_for_owner(user.id)
        .await?;
    let instances = records
        .iter()
        .map(|record| {
            let instance = state.cache.get(&record.name);
            views::instance(record, seen(&state, &instance))
        })
        // Gone from the cluster: it no longer shows (the watch marks the record).
        .filter(|view| view.status != Phase::Deleted)
        .collect();
    Ok(Json(InstanceList(instances)))
}

/// `GET /instances/{id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<InstanceResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    Ok(Json(views::instance(&record, seen(&state, &instance))))
}

/// `PATCH /instances/{id}`
pub async fn update(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
    JsonBody(body): JsonBody<UpdateInstanceRequest>,
) -> Result<Json<InstanceResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    if body.is_empty() {
        return Ok(Json(views::instance(&record, seen(&state, &instance))));
    }
    let active = active_plan(&state, user.id).await?;
    check_entitlement(active.and_then(|(plan, _)| plan), body.ai_model.as_ref())?;
    // A token Telegram refuses (or another program uses) is mended by a new token while
    // the assistant runs: the controller restarts it with the new one.
    let owner_mends_token = body.telegram_bot_token.is_some()
        && views::health(&record, seen(&state, &instance)).is_some_and(|h| h.owner_action_needed);
    if views::phase(&record, seen(&state, &instance)) != Phase::Stopped && !owner_mends_token {
        return Err(ApiError::bad_request(
            "Instance must be stopped before updating configuration",
        ));
    }
    let Some(instance) = instance else {
        return Err(ApiError::instance_not_found());
    };
    if let Some(region) = &body.region
        && *region != instance.spec.region
    {
        return Err(ApiError::invalid(vec![format!(
            "region: The region cannot change after creation (it is {})",
            instance.spec.region.as_str()
        )]));
    }
    check_runtime_fields(body.ai_model.as_ref(), body.telegram_user_ids.as_deref())?;
    let records = state.db.instances(&state.keyring);
    let mut spec = json!({});
    let mut annotations = json!({});
    if let Some(name) = &body.name {
        records.rename(record.id, name).await?;
        spec["displayName"] = json!(name);
    }
    if let Some(model) = &body.ai_model {
        spec["aiModel"] = json!(model);
        if instance.spec.ai_provider.is_some() {
            spec["aiProvider"] = Value::Null;
        }
    }
    if let Some(ids) = &body.telegram_user_ids {
        spec["telegramUserIds"] = json!(ids);
    }
    // The plan's machine size reaches the machine with this change.
    if let Some((plan, _)) = active {
        spec["machine"] = json!(entitlements::machine(plan));
    }
    if let Some(token) = &body.telegram_bot_token {
        records.replace_token(record.id, token).await?;
        // The resource names the same sealed row: ask the controller to look now.
        annotations[RECONCILE_REQUESTED_AT] = json!(now());
    }
    let written = patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": annotations }, "spec": spec }),
    )
    .await?;
    let record = records.find_for_owner(id, user.id).await?.unwrap_or(record);
    Ok(Json(views::instance(&record, Seen::Present(&written))))
}

async fn power(
    state: &AppState,
    user: &UserRecord,
    id: uuid::Uuid,
    start: bool,
) -> Result<InstanceResponse, ApiError> {
    let (record, instance) = find(state, user, id).await?;
    let phase = views::phase(&record, seen(state, &instance));
    let (allowed, refusal, shown) = if start {
        (Phase::Stopped, "Instance is not stopped", Phase::Starting)
    } else {
        (Phase::Running, "Instance is not running", Phase::Stopping)
    };
    if phase != allowed {
        return Err(ApiError::bad_request(refusal));
    }
    let change = if start {
        let Some((plan, limit)) = active_plan(state, user.id).await? else {
            return Err(ApiError::forbidden(NO_SUBSCRIPTION));
        };
        // Past the plan's limit (after a downgrade), the newest instances stay stopped.
        if limit >= 0 {
            let mut conn = state.db.pool().acquire().await.map_err(StoreError::from)?;
            let live = BillingLifecycle::instances_in(&mut conn, user.id).await?;
            let rank = live.iter().position(|i| i.id == record.id).unwrap_or(0);
            if rank >= usize::try_from(limit).unwrap_or(0) {
                return Err(limit_reached(i64::from(limit)));
            }
        }
        PowerChange::Run(Some(entitlements::machine(plan)))
    } else {
        PowerChange::Stop
    };
    let written = set_power(state, &record, &change).await?;
    if start {
        state
            .db
            .billing_lifecycle()
            .set_billing_stop(record.id, None)
            .await?;
    }
    let mut view = views::instance(&record, Seen::Present(&written));
    // The controller has not acted yet: the instance is on its way.
    view.status = shown;
    Ok(view)
}

/// `POST /instances/{id}/start`
pub async fn start(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<InstanceResponse>, ApiError> {
    power(&state, &user, id, true).await.map(Json)
}

/// `POST /instances/{id}/stop`
pub async fn stop(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<InstanceResponse>, ApiError> {
    power(&state, &user, id, false).await.map(Json)
}

/// `POST /instances/{id}/retry`
pub async fn retry(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<InstanceResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    if views::phase(&record, seen(&state, &instance)) != Phase::Failed {
        return Err(ApiError::bad_request(
            "Only failed instances can be retried",
        ));
    }
    let written = patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": { RETRY_REQUESTED_AT: now() } } }),
    )
    .await?;
    Ok(Json(views::instance(&record, Seen::Present(&written))))
}

/// `POST /instances/{id}/sync`
pub async fn sync(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<InstanceResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    if record.deleted_at.is_some() || instance.is_none() {
        return Ok(Json(views::instance(&record, seen(&state, &instance))));
    }
    let written = patch(
        &state,
        &record,
        json!({ "metadata": { "annotations": { RECONCILE_REQUESTED_AT: now() } } }),
    )
    .await?;
    Ok(Json(views::instance(&record, Seen::Present(&written))))
}

/// `DELETE /instances/{id}`: the controller removes the machine and the app, then the
/// Instance goes and the record is marked deleted.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<SuccessResponse>, ApiError> {
    let (record, _) = find(&state, &user, id).await?;
    remove(&state, &record).await?;
    Ok(Json(SuccessResponse { success: true }))
}

/// `GET /instances/{id}/provisioning-status`
pub async fn provisioning(
    State(state): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
    InstanceId(id): InstanceId,
) -> Result<Json<ProvisioningStatusResponse>, ApiError> {
    let (record, instance) = find(&state, &user, id).await?;
    Ok(Json(views::provisioning(&record, seen(&state, &instance))))
}
