//! What is known of an Instance's part of Fly.io while one reconcile proceeds.

use crate::crd::{InstanceStatus, PairingStatus, Phase, ProvisioningStepName};
use crate::fly::{Machine, MachineState};

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
        }
    }
}
