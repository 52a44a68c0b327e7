//! The `FleetRelease` custom resource (cluster-scoped): which OpenClaw image the fleet
//! runs. A stable image, an optional candidate on a sticky share of the Instances, how
//! many change at once, and how many may fail before the rollout halts by itself.
//!
//! The controller follows one release, named by its `FLEET_RELEASE` setting. An
//! Instance's `spec.image` pins it outside any release.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The images of the fleet and how the candidate rolls out.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) names its own type_"
)]
#[kube(
    group = "fasterclaw.io",
    version = "v1alpha1",
    kind = "FleetRelease",
    status = "FleetReleaseStatus",
    shortname = "fcr",
    category = "fasterclaw",
    derive = "PartialEq",
    doc = "The OpenClaw images FasterClaw's Instances run: a stable image, and a candidate rolled out to a share of them with a health gate that halts a bad rollout.",
    printcolumn(
        name = "Stable",
        type_ = "string",
        json_path = ".spec.stable",
        description = "The image every Instance runs unless the candidate's share or a pin takes it"
    ),
    printcolumn(
        name = "Candidate",
        type_ = "string",
        json_path = ".spec.candidate",
        description = "The image being rolled out"
    ),
    printcolumn(
        name = "Share",
        type_ = "integer",
        json_path = ".spec.share",
        description = "Percentage of the Instances the candidate goes to"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Progressing, Complete, Paused, Halted, RollingBack or RolledBack"
    ),
    printcolumn(
        name = "Upgraded",
        type_ = "string",
        json_path = ".status.progress",
        description = "Instances healthy on the image the release gives them, of those it gives one"
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.failed",
        description = "Instances that did not become healthy on their new image"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!has(self.candidate) || self.candidate != self.stable").message("candidate must differ from stable"))]
#[x_kube(validation = Rule::new("!self.rollback || has(self.candidate)").message("rollback needs the candidate to roll back"))]
#[serde(rename_all = "camelCase")]
pub struct FleetReleaseSpec {
    /// The image every Instance runs unless it pins one or the candidate's share takes
    /// it. Changing it moves the Instances on another image to it, `maxUpgrading` at a
    /// time, each snapshotted first and gated on its health like a candidate.
    #[schemars(length(min = 1, max = 512))]
    pub stable: String,

    /// The image being rolled out to `share` percent of the Instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub candidate: Option<String>,

    /// Percentage (0–100) of the Instances the candidate goes to: those whose cohort (a
    /// hash of the Instance's uid, 0–99) is below it. Lowering it moves nobody back: an
    /// Instance on the candidate stays there until a rollback or a new candidate.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub share: u32,

    /// How many Instances may be changing image at once.
    #[serde(default = "default_max_upgrading")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_upgrading: u32,

    /// How many Instances may fail to become healthy on their new image before the
    /// rollout halts by itself and touches no more Instances.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100000))]
    pub failure_budget: u32,

    /// Seconds an Instance has to become healthy on its new image before it counts as
    /// failed.
    #[serde(default = "default_health_deadline_seconds")]
    #[schemars(range(min = 30, max = 86400))]
    pub health_deadline_seconds: u32,

    /// An operator's halt: no Instance starts changing image while it is `true`; those
    /// changing finish.
    #[serde(default)]
    pub paused: bool,

    /// Returns every Instance on the candidate to the stable image on the snapshot its
    /// volume had before it moved (state a newer OpenClaw migrated cannot be trusted by
    /// an older one); `status.restored` names them.
    #[serde(default)]
    pub rollback: bool,
}

fn default_max_upgrading() -> u32 {
    5
}

fn default_health_deadline_seconds() -> u32 {
    600
}

/// Where a release stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ReleasePhase {
    /// Instances are being moved to the image the release gives them.
    Progressing,
    /// Every Instance runs, healthy, the image the release gives it.
    Complete,
    /// `spec.paused`: no Instance starts changing image.
    Paused,
    /// More Instances failed on their new image than the budget allows: nothing moves
    /// until the spec changes (a rollback, a new candidate, a larger budget).
    Halted,
    /// The candidate's Instances are going back to the stable image.
    RollingBack,
    /// Every Instance that was on the candidate is back on the stable image.
    RolledBack,
}

impl ReleasePhase {
    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleasePhase::Progressing => "Progressing",
            ReleasePhase::Complete => "Complete",
            ReleasePhase::Paused => "Paused",
            ReleasePhase::Halted => "Halted",
            ReleasePhase::RollingBack => "RollingBack",
            ReleasePhase::RolledBack => "RolledBack",
        }
    }
}

/// How many Instances run one image, and how many of them are healthy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageCount {
    /// The image.
    pub image: String,
    /// Instances running it (their machine's image).
    pub instances: u32,
    /// Those of them whose gateway is healthy.
    pub healthy: u32,
}

/// What the release has done, written only by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetReleaseStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Progressing, Complete, Paused, Halted, RollingBack or RolledBack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ReleasePhase>,

    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// `healthy/wanted`: the Instances healthy on the image the release gives them,
    /// of those (not pinned) it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,

    /// Instances the release decides for (all but the pinned ones).
    #[serde(default)]
    pub instances: u32,

    /// Instances whose `spec.image` pins them outside the release.
    #[serde(default)]
    pub pinned: u32,

    /// Instances the candidate's share calls for (or keeps: an Instance on the
    /// candidate stays there).
    #[serde(default)]
    pub wanted_on_candidate: u32,

    /// Instances given the candidate.
    #[serde(default)]
    pub on_candidate: u32,

    /// Instances healthy on the image the release gives them.
    #[serde(default)]
    pub upgraded: u32,

    /// Instances changing image now.
    #[serde(default)]
    pub upgrading: u32,

    /// Instances that did not become healthy on their new image in time (those whose
    /// gateway was already failing before their change among them, although the failure
    /// budget does not count those).
    #[serde(default)]
    pub failed: u32,

    /// Instances waiting for their turn to change image.
    #[serde(default)]
    pub waiting: u32,

    /// Instances per image their machine runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageCount>,

    /// The failed Instances (`namespace/name`), the first 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_instances: Vec<String>,

    /// Instances a rollback returned to the stable image on their pre-upgrade snapshot
    /// (`namespace/name`), the first 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<String>,

    /// The generation that halted, so a halt holds until the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted_generation: Option<i64>,

    /// When the status last changed phase (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// An Instance's last change of image, as its controller made and judged it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// The image the machine ran before.
    pub from: String,
    /// The image it moved to.
    pub to: String,
    /// The snapshot of its volume taken before the move (`vs_…`), the one a rollback
    /// restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// When the machine was updated (RFC 3339).
    pub started_at: String,
    /// `Upgrading` until the gateway is healthy on the new image (`Upgraded`), or
    /// `Failed` when it is not.
    pub result: UpgradeResult,
    /// Why it failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the gateway was healthy on `from` when the change began (absent when
    /// that was not known): a gateway already failing there that fails on `to` too was
    /// not broken by `to`, so a release's failure budget does not count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_before: Option<bool>,
}

/// Where an Instance's change of image stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum UpgradeResult {
    /// The machine runs the new image; its gateway is not yet healthy.
    Upgrading,
    /// The gateway is healthy on the new image.
    Upgraded,
    /// The gateway did not become healthy on the new image.
    Failed,
}

/// An Instance's cohort, 0–99: the first eight bytes of the SHA-256 of its uid, modulo
/// 100. The same on every controller, across restarts and versions.
pub fn cohort(uid: &str) -> u32 {
    let digest = Sha256::digest(uid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 100) as u32
}

/// Whether the candidate's `share` (percent) takes the Instance `uid`.
pub fn in_share(uid: &str, share: u32) -> bool {
    cohort(uid) < share.min(100)
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::json;

    use super::*;

    #[test]
    fn cohorts_are_stable_and_spread() {
        assert_eq!(cohort("3f0e0f9a-0000-4000-8000-000000000001"), {
            cohort("3f0e0f9a-0000-4000-8000-000000000001")
        });
        let uids: Vec<String> = (0..2000)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let half = uids.iter().filter(|u| in_share(u, 50)).count();
        assert!((900..=1100).contains(&half), "{half} of 2000 at 50%");
        assert_eq!(uids.iter().filter(|u| in_share(u, 0)).count(), 0);
        assert_eq!(uids.iter().filter(|u| in_share(u, 100)).count(), 2000);
        // A larger share keeps everyone a smaller one took.
        assert!(
            uids.iter()
                .filter(|u| in_share(u, 10))
                .all(|u| in_share(u, 30))
        );
    }

    #[test]
    fn the_spec_has_defaults_and_rules() {
        let spec: FleetReleaseSpec =
            serde_json::from_value(json!({"stable": "ghcr.io/openclaw/openclaw:1"})).unwrap();
        assert_eq!(spec.max_upgrading, 5);
        assert_eq!(spec.health_deadline_seconds, 600);
        assert_eq!(spec.share, 0);
        assert!(!spec.rollback && !spec.paused);
        let crd = serde_json::to_value(FleetRelease::crd()).unwrap();
        assert_eq!(crd["spec"]["scope"], "Cluster");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(schema["properties"]["maxUpgrading"]["default"], 5);
        let rules = schema["x-kubernetes-validations"].to_string();
        assert!(
            rules.contains("candidate must differ from stable"),
            "{rules}"
        );
    }
}
