//! Volumes and their snapshots (`/v1/apps/{app}/volumes`): where an assistant's state
//! lives across machine restarts, updates and replacements.
//!
//! Creating a volume is not idempotent on Fly.io (names are not unique), so a create is
//! sent at most once; after an ambiguous failure the caller finds the volume by its name.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::FlyError;
use super::client::{Call, FlyClient};
use super::types::{Deleted, Guest};

/// A volume (`Volume`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Volume id (`vol_…`).
    pub id: String,
    /// Name; several volumes of an app may share one.
    pub name: String,
    /// `created`, `hydrating` (a fork or a restore filling up), `pending_destroy`,
    /// `destroying`, `destroyed`…
    pub state: String,
    /// Region code.
    pub region: String,
    /// Availability zone (the host's).
    pub zone: String,
    /// Size in GB.
    pub size_gb: u32,
    /// The machine it is attached to, if any.
    pub attached_machine_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Days Fly.io keeps its snapshots.
    pub snapshot_retention: Option<u32>,
    /// Whether Fly.io snapshots it daily.
    pub auto_backup_enabled: Option<bool>,
    /// Bytes in use, when Fly.io reports it.
    pub bytes_used: Option<u64>,
}

impl Volume {
    /// Whether it is destroyed or on its way there.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.state.as_str(),
            "destroyed" | "destroying" | "pending_destroy" | "scheduling_destroy"
        )
    }
}

/// A volume to create (`CreateVolumeRequest`): empty, from a snapshot, or forked from
/// another volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CreateVolume {
    /// Name.
    pub name: String,
    /// Region code.
    pub region: String,
    /// Size in GB.
    pub size_gb: u32,
    /// The guest of the machine that will mount it: Fly.io places the volume on a host
    /// with room for that machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute: Option<Guest>,
    /// Days Fly.io keeps its snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_retention: Option<u32>,
    /// Restore this snapshot into the new volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// Fork this volume (any region) into the new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_volume_id: Option<String>,
}

/// `PUT …/extend` answer (`ExtendVolumeResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ExtendedVolume {
    /// The machine must restart for its file system to grow.
    pub needs_restart: bool,
    /// The volume, extended.
    pub volume: Volume,
}

/// A snapshot of a volume (`VolumeSnapshot`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VolumeSnapshot {
    /// Snapshot id (`vs_…`).
    pub id: String,
    /// When it was taken (RFC 3339).
    pub created_at: String,
    /// `created`, `running`…
    pub status: String,
    /// Bytes it holds.
    pub size: u64,
    /// Size of the volume it was taken of, in GB.
    pub volume_size: u32,
    /// Days Fly.io keeps it.
    pub retention_days: Option<u32>,
}

#[derive(Serialize)]
struct ExtendRequest {
    size_gb: u32,
}

impl FlyClient {
    /// The app's volumes (without destroyed ones).
    pub async fn list_volumes(&self, app: &str) -> Result<Vec<Volume>, FlyError> {
        let call = Call::new(
            "Volumes_list",
            Method::GET,
            app,
            format!("apps/{app}/volumes"),
        );
        self.run_json(call).await
    }

    /// A volume.
    pub async fn get_volume(&self, app: &str, id: &str) -> Result<Volume, FlyError> {
        let call = Call::new(
            "Volumes_get_by_id",
            Method::GET,
            app,
            format!("apps/{app}/volumes/{id}"),
        );
        self.run_json(call).await
    }

    /// Creates a volume. Sent at most once: after an ambiguous failure, look for the
    /// volume by its name before creating another.
    pub async fn create_volume(
        &self,
        app: &str,
        request: &CreateVolume,
    ) -> Result<Volume, FlyError> {
        let mut call = Call::new(
            "Volumes_create",
            Method::POST,
            app,
            format!("apps/{app}/volumes"),
        )
        .json(request)?;
        call.at_most_once = true;
        self.run_json(call).await
    }

    /// Grows a volume to `size_gb`.
    pub async fn extend_volume(
        &self,
        app: &str,
        id: &str,
        size_gb: u32,
    ) -> Result<ExtendedVolume, FlyError> {
        let call = Call::new(
            "Volumes_extend",
            Method::PUT,
            app,
            format!("apps/{app}/volumes/{id}/extend"),
        )
        .json(&ExtendRequest { size_gb })?;
        self.run_json(call).await
    }

    /// Destroys a volume (it must not be attached to a machine).
    pub async fn delete_volume(&self, app: &str, id: &str) -> Result<Deleted, FlyError> {
        let call = Call::new(
            "Volume_delete",
            Method::DELETE,
            app,
            format!("apps/{app}/volumes/{id}"),
        );
        match self.run(call).await.result {
            Ok(_) => Ok(Deleted::Yes),
            Err(e) if e.is_not_found() => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Takes a snapshot of a volume now.
    pub async fn snapshot_volume(&self, app: &str, id: &str) -> Result<(), FlyError> {
        let mut call = Call::new(
            "createVolumeSnapshot",
            Method::POST,
            app,
            format!("apps/{app}/volumes/{id}/snapshots"),
        );
        // Two snapshots where one was asked for cost nothing but space; still, one.
        call.at_most_once = true;
        self.run(call).await.result.map(|_| ())
    }

    /// A volume's snapshots, as Fly.io lists them.
    pub async fn list_snapshots(
        &self,
        app: &str,
        id: &str,
    ) -> Result<Vec<VolumeSnapshot>, FlyError> {
        let call = Call::new(
            "Volumes_list_snapshots",
            Method::GET,
            app,
            format!("apps/{app}/volumes/{id}/snapshots"),
        );
        self.run_json(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_reads_leniently_and_knows_when_it_is_gone() {
        let volume: Volume = serde_json::from_str(
            r#"{"id":"vol_1","name":"openclaw_data","state":"created","region":"iad","size_gb":3,"attached_machine_id":null,"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(volume.size_gb, 3);
        assert!(!volume.is_gone());
        for state in ["destroyed", "pending_destroy", "destroying"] {
            let gone = Volume {
                state: state.to_owned(),
                ..volume.clone()
            };
            assert!(gone.is_gone(), "{state}");
        }
    }

    #[test]
    fn a_create_sends_only_what_is_set() {
        let request = CreateVolume {
            name: "openclaw_data".to_owned(),
            region: "lax".to_owned(),
            size_gb: 1,
            source_volume_id: Some("vol_x".to_owned()),
            ..CreateVolume::default()
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"name":"openclaw_data","region":"lax","size_gb":1,"source_volume_id":"vol_x"})
        );
    }
}
