//! The Events the controller publishes about an Instance (`kubectl describe`): each
//! reason names itself once here, with whether it is a warning and the action it
//! reports.

use kube::runtime::events::EventType;

use crate::crd::{HealthReason, SyncedReason};

/// Why an Event was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReason {
    /// The app was created.
    AppCreated,
    /// The app's secrets were written.
    SecretsUpdated,
    /// The machine was created.
    MachineCreated,
    /// The machine's configuration was replaced.
    MachineUpdated,
    /// The machine reached `started`.
    MachineStarted,
    /// The machine reached `stopped`.
    MachineStopped,
    /// The Instance became Ready.
    Ready,
    /// A `reconcile-requested-at` was acted on.
    ReconcileRequestHandled,
    /// An existing app was taken over.
    Adopted,
    /// The machine and the app were deleted.
    Deleted,
    /// `deletionPolicy: Orphan` left Fly.io as it was.
    Orphaned,
    /// Deletion left an app that is not this Instance's.
    AppLeft,
    /// An annotation's value is ignored.
    InvalidAnnotation,
    /// A stranger's pairing code was approved.
    PairingApproved,
    /// An approval could not be carried out.
    PairingNotApproved,
    /// The machine was destroyed to be made again on another volume.
    MachineReplaced,
    /// State kept on a machine's root file system was carried onto its volume.
    StateCarried,
    /// That state could not be carried.
    StateNotCarried,
    /// The Instance's volume was created, or found again by its name.
    VolumeCreated,
    /// The volume was extended.
    VolumeExtended,
    /// A snapshot of the volume was taken.
    SnapshotTaken,
    /// The assistant's state was restored (a snapshot, or a kept volume).
    Restored,
    /// A restore could not be carried out.
    RestoreRefused,
    /// The assistant moved with its data to another region.
    VolumeMoved,
    /// A kept volume's period ended and it was deleted.
    VolumeDeleted,
    /// A region had no room (or no quota) for the assistant.
    RegionFull,
    /// The gateway is not healthy, for this reason (once per change).
    Unhealthy(HealthReason),
    /// The gateway is healthy again.
    Recovered,
    /// The controller healed the machine on its own.
    Healed,
    /// The gateway is healthy on the image the machine moved to.
    Upgraded,
    /// The gateway did not become healthy on the image the machine moved to.
    UpgradeFailed,
    /// A problem the owner must fix.
    Problem(SyncedReason),
}

impl EventReason {
    /// The reason as the Event writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::AppCreated => "AppCreated",
            EventReason::SecretsUpdated => "SecretsUpdated",
            EventReason::MachineCreated => "MachineCreated",
            EventReason::MachineUpdated => "MachineUpdated",
            EventReason::MachineStarted => "MachineStarted",
            EventReason::MachineStopped => "MachineStopped",
            EventReason::Ready => "Ready",
            EventReason::ReconcileRequestHandled => "ReconcileRequestHandled",
            EventReason::Adopted => "Adopted",
            EventReason::Deleted => "Deleted",
            EventReason::Orphaned => "Orphaned",
            EventReason::AppLeft => "AppLeft",
            EventReason::InvalidAnnotation => "InvalidAnnotation",
            EventReason::PairingApproved => "PairingApproved",
            EventReason::PairingNotApproved => "PairingNotApproved",
            EventReason::MachineReplaced => "MachineReplaced",
            EventReason::StateCarried => "StateCarried",
            EventReason::StateNotCarried => "StateNotCarried",
            EventReason::VolumeCreated => "VolumeCreated",
            EventReason::VolumeExtended => "VolumeExtended",
            EventReason::SnapshotTaken => "SnapshotTaken",
            EventReason::Restored => "Restored",
            EventReason::RestoreRefused => "RestoreRefused",
            EventReason::VolumeMoved => "VolumeMoved",
            EventReason::VolumeDeleted => "VolumeDeleted",
            EventReason::RegionFull => "RegionFull",
            EventReason::Unhealthy(reason) => reason.as_str(),
            EventReason::Recovered => "Recovered",
            EventReason::Healed => "Healed",
            EventReason::Upgraded => "Upgraded",
            EventReason::UpgradeFailed => "UpgradeFailed",
            EventReason::Problem(reason) => reason.as_str(),
        }
    }

    /// Warnings are what someone must look at; the rest tells what happened.
    pub fn kind(self) -> EventType {
        match self {
            EventReason::AppLeft
            | EventReason::InvalidAnnotation
            | EventReason::PairingNotApproved
            | EventReason::RestoreRefused
            | EventReason::StateNotCarried
            | EventReason::RegionFull
            | EventReason::Unhealthy(_)
            | EventReason::UpgradeFailed
            | EventReason::Problem(_) => EventType::Warning,
            _ => EventType::Normal,
        }
    }

    /// What the controller was doing.
    pub fn action(self) -> &'static str {
        match self {
            EventReason::AppCreated => "CreateApp",
            EventReason::SecretsUpdated => "SetSecrets",
            EventReason::MachineCreated => "CreateMachine",
            EventReason::MachineUpdated => "UpdateMachine",
            EventReason::MachineReplaced => "ReplaceMachine",
            EventReason::StateCarried | EventReason::StateNotCarried => "CarryState",
            EventReason::MachineStarted | EventReason::MachineStopped => "Wait",
            EventReason::Adopted => "Adopt",
            EventReason::PairingApproved | EventReason::PairingNotApproved => "ApprovePairing",
            EventReason::Deleted | EventReason::Orphaned | EventReason::AppLeft => "Delete",
            EventReason::VolumeCreated | EventReason::RegionFull => "CreateVolume",
            EventReason::VolumeExtended => "ExtendVolume",
            EventReason::SnapshotTaken => "Snapshot",
            EventReason::Restored | EventReason::RestoreRefused => "Restore",
            EventReason::VolumeMoved => "MoveVolume",
            EventReason::VolumeDeleted => "DeleteVolume",
            EventReason::Healed => "Heal",
            EventReason::Upgraded | EventReason::UpgradeFailed => "Upgrade",
            EventReason::Unhealthy(_) | EventReason::Recovered => "CheckHealth",
            EventReason::Ready
            | EventReason::ReconcileRequestHandled
            | EventReason::InvalidAnnotation
            | EventReason::Problem(_) => "Reconcile",
        }
    }
}

/// An Event to publish: why, and what to tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Why.
    pub reason: EventReason,
    /// What happened, for people.
    pub text: String,
}

impl Note {
    /// A note of `reason` saying `text`.
    pub fn new(reason: EventReason, text: impl Into<String>) -> Self {
        Self {
            reason,
            text: text.into(),
        }
    }
}
