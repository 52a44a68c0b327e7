//! What is known of an Instance's part of Fly.io while one reconcile proceeds.

use super::health::ExitBook;
use crate::crd::{
    HealRecord, InstanceStatus, PairingStatus, Phase, ProvisioningStepName, RestoreStatus,
    RetainedVolume, SnapshotStatus, UpgradeStatus, VolumeStatus,
};
use crate::fly::{Machine, MachineState, Volume};
use crate::runtime::channels::ChannelTrouble;

/// What is known of Fly.io while a reconcile proceeds.
#[derive(Debug, Default)]
pub struct World {
    /// The app exists (and is the Instance's).
    pub app_exists: bool,
    /// The machine, as last seen.
    pub machine: Option<Machine>,
    /// Secrets written in this reconcile: (digest, version).
    pub written_secrets: Option<(String, u64)>,
    /// A wait ended before the machine got there; look again soon.
    pub still_moving: bool,
    /// Pairing as the machine reported it in this reconcile.
    pub pairing: Option<PairingStatus>,
    /// The Instance's volume, as last seen on Fly.io.
    pub volume: Option<Volume>,
    /// The storage part of the status, as this reconcile leaves it.
    pub storage: StorageRecord,
    /// The volume changed under the plan (made, moved, restored): plan again.
    pub replan: bool,
    /// The app did not exist when the reconcile began: it holds no volume to find.
    pub app_new: bool,
    /// The gateway's exits nobody asked for, with those this reconcile saw.
    pub exits: ExitBook,
    /// What the Telegram channel said of itself, when it was asked in this reconcile.
    pub channel: Option<ChannelTrouble>,
    /// The heal carried out in this reconcile.
    pub heal: Option<HealRecord>,
    /// The machine's host failed: the volume moves off it.
    pub host_failed: bool,
    /// Fly.io was looked at in this reconcile (else the world is what the status says).
    pub observed: bool,
    /// The last change of the machine's image.
    pub upgrade: Option<UpgradeStatus>,
}

/// The storage part of an Instance's status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageRecord {
    /// The volume holding the state.
    pub volume: Option<VolumeStatus>,
    /// Its latest snapshots, newest first.
    pub snapshots: Vec<SnapshotStatus>,
    /// When they were listed.
    pub snapshots_listed_at: Option<String>,
    /// Volumes moved off, kept for a while.
    pub retained: Vec<RetainedVolume>,
    /// The last restore.
    pub restore: Option<RestoreStatus>,
}

impl StorageRecord {
    /// As the status recorded it.
    pub fn from_status(status: &InstanceStatus) -> Self {
        Self {
            volume: status.volume.clone(),
            snapshots: status.snapshots.clone(),
            snapshots_listed_at: status.snapshots_listed_at.clone(),
            retained: status.retained_volumes.clone(),
            restore: status.restore.clone(),
        }
    }
}

impl World {
    /// What the status says of Fly.io, for reports made without looking.
    pub fn from_status(status: &InstanceStatus) -> Self {
        let machine = status.fly_machine_id.as_ref().map(|id| Machine {
            id: id.clone(),
            state: match status.phase {
                Some(Phase::Running) => MachineState::Started,
                Some(Phase::Stopped) => MachineState::Stopped,
                Some(Phase::Starting) => MachineState::Starting,
                Some(Phase::Stopping) => MachineState::Stopping,
                Some(Phase::Failed) => MachineState::Failed,
                _ => MachineState::Created,
            },
            private_ip: status.ip_address.clone().unwrap_or_default(),
            region: status.region.clone().unwrap_or_default(),
            ..Machine::default()
        });
        Self {
            app_exists: status
                .provisioning_steps
                .iter()
                .any(|s| s.name == ProvisioningStepName::AppCreated && s.completed_at.is_some()),
            machine,
            written_secrets: None,
            still_moving: false,
            pairing: None,
            volume: None,
            storage: StorageRecord::from_status(status),
            replan: false,
            app_new: false,
            exits: ExitBook::from_status(status),
            channel: None,
            heal: None,
            host_failed: false,
            observed: false,
            upgrade: status.upgrade.clone(),
        }
    }
}
