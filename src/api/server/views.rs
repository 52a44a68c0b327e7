//! From an instance record and its Instance resource to what the web app sees.

use kube::ResourceExt;

use crate::api::contract::{HealthState, HealthView, InstanceResponse, ProvisioningStatusResponse};
use crate::crd::{ConditionType, HealthReason, Instance, Phase, PowerState, annotation};
use crate::db::InstanceRecord;
use crate::domain::{AiModel, Timestamp};

/// What the facade knows of an instance's resource.
#[derive(Clone, Copy, Debug)]
pub enum Seen<'a> {
    /// The Instance, as cached or just written.
    Present(&'a Instance),
    /// Not in a filled cache: gone from the cluster.
    Gone,
    /// Not in the cache, which is still filling.
    Unknown,
}

impl<'a> Seen<'a> {
    /// What the cache says of an instance.
    pub fn of(instance: Option<&'a Instance>, cache_synced: bool) -> Self {
        match (instance, cache_synced) {
            (Some(i), _) => Seen::Present(i),
            (None, true) => Seen::Gone,
            (None, false) => Seen::Unknown,
        }
    }

    fn instance(self) -> Option<&'a Instance> {
        match self {
            Seen::Present(i) => Some(i),
            _ => None,
        }
    }
}

/// The phase the web app sees: DELETED once the record is or the resource is gone,
/// the controller's phase otherwise (CREATING before it reported any), and STOPPING
/// while a running instance is being deleted.
pub fn phase(record: &InstanceRecord, seen: Seen<'_>) -> Phase {
    if record.deleted_at.is_some() {
        return Phase::Deleted;
    }
    let instance = match seen {
        Seen::Present(instance) => instance,
        Seen::Gone => return Phase::Deleted,
        Seen::Unknown => return Phase::Creating,
    };
    let phase = instance
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(Phase::Creating);
    let deleting = instance.metadata.deletion_timestamp.is_some();
    match phase {
        Phase::Running | Phase::Starting if deleting => Phase::Stopping,
        other => other,
    }
}

/// An instance as the web app sees it.
pub fn instance(record: &InstanceRecord, seen: Seen<'_>) -> InstanceResponse {
    let instance = seen.instance();
    let status = instance.and_then(|i| i.status.as_ref());
    let spec = instance.map(|i| &i.spec);
    let model = spec.map(|s| s.ai_model.clone()).unwrap_or_default();
    let provider = spec
        .map(|s| s.effective_provider())
        .unwrap_or_else(|| AiModel::default().provider());
    InstanceResponse {
        id: record.id,
        user_id: record.owner_id,
        name: record.display_name.clone(),
        provider: "fly".to_owned(),
        fly_app_name: status.and_then(|s| s.fly_app_name.clone()),
        fly_machine_id: status.and_then(|s| s.fly_machine_id.clone()),
        docker_container_id: None,
        docker_port: None,
        status: phase(record, seen),
        region: spec
            .map(|s| s.region.as_str().to_owned())
            .unwrap_or_else(|| "lax".to_owned()),
        ai_model: model.as_str().to_owned(),
        ai_provider: provider,
        telegram_user_ids: spec
            .map(|s| s.telegram_user_ids.clone())
            .unwrap_or_default(),
        telegram_bot_token: record.token_mask.clone(),
        ip_address: status.and_then(|s| s.ip_address.clone()),
        stop_reason: instance
            .filter(|i| i.spec.power_state == PowerState::Stopped)
            .and_then(|i| i.annotations().get(annotation::BILLING_STOPPED).cloned()),
        created_at: Timestamp::from(record.created_at),
        updated_at: Timestamp::from(record.updated_at),
        health: health(record, seen),
    }
}

/// Whether the assistant works, from the Instance's `Healthy` condition; null before
/// the controller wrote one (and for a deleted instance).
pub fn health(record: &InstanceRecord, seen: Seen<'_>) -> Option<HealthView> {
    if record.deleted_at.is_some() {
        return None;
    }
    let status = seen.instance()?.status.as_ref()?;
    let condition = status.condition(ConditionType::Healthy)?;
    let reason = HealthReason::parse(&condition.reason)?;
    Some(HealthView {
        state: match condition.status.as_str() {
            "True" => HealthState::Healthy,
            "False" => HealthState::Unhealthy,
            _ => HealthState::Unknown,
        },
        reason: reason.as_str().to_owned(),
        message: reason.for_owner().map(str::to_owned),
        owner_action_needed: reason.is_owners(),
        since: chrono::DateTime::from_timestamp(condition.last_transition_time.0.as_second(), 0)
            .map(Timestamp::from),
        restarts: status.restarts,
    })
}

/// How far provisioning has come.
pub fn provisioning(record: &InstanceRecord, seen: Seen<'_>) -> ProvisioningStatusResponse {
    let status = seen.instance().and_then(|i| i.status.as_ref());
    ProvisioningStatusResponse {
        instance_id: record.id,
        status: phase(record, seen),
        ready: status
            .and_then(|s| s.condition(ConditionType::Ready))
            .is_some_and(|c| c.status == "True"),
        message: status.and_then(|s| s.message.clone()),
        steps: status
            .map(|s| s.provisioning_steps.clone())
            .unwrap_or_default(),
        health: health(record, seen),
    }
}
