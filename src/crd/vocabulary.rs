//! The Instance's vocabulary, in one place for everyone who reads or writes Instances
//! (the controller, the facade, the import): its finalizer, annotations, labels, field
//! managers, the name an account's Instance gets, and a typed constructor of the
//! Instances the facade and the import create.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::ObjectMeta;
use uuid::Uuid;

use super::{Instance, InstanceSpec};

/// The finalizer that holds a deleted Instance until its Fly.io resources are gone.
pub const FINALIZER: &str = "fasterclaw.io/cleanup";

/// The field managers of the writers of Instances.
pub mod field_manager {
    /// The controller (its status and finalizer).
    pub const CONTROLLER: &str = "fasterclaw-controller";
    /// The facade (the Instances of the web app's accounts).
    pub const FACADE: &str = "fasterclaw-api";
    /// `fasterclaw import-original`.
    pub const IMPORT: &str = "fasterclaw-import";
}

/// The annotations the controller reads.
pub mod annotation {
    /// `"true"` stops every write to Fly.io for the Instance.
    pub const PAUSED: &str = "fasterclaw.io/paused";
    /// A changed value asks for an immediate sync, echoed into
    /// `status.lastHandledReconcileAt`.
    pub const RECONCILE_REQUESTED_AT: &str = "fasterclaw.io/reconcile-requested-at";
    /// A changed value starts a FAILED Instance over, echoed into
    /// `status.lastHandledRetryAt`.
    pub const RETRY_REQUESTED_AT: &str = "fasterclaw.io/retry-requested-at";
    /// How often this Instance is checked when settled (`30s`, `1h`).
    pub const POLL_INTERVAL: &str = "fasterclaw.io/poll-interval";
    /// A pairing code the owner approves: the controller lets the stranger who holds it
    /// in and echoes the result in `status.pairing.approval`.
    pub const APPROVE_PAIRING_CODE: &str = "fasterclaw.io/approve-pairing-code";
    /// Restores the assistant's state from a snapshot of its volume (`vs_…`, as
    /// `status.snapshots` lists them), or goes back to a volume kept after an earlier
    /// restore or move (`vol_…`, as `status.retainedVolumes` lists them).
    pub const RESTORE: &str = "fasterclaw.io/restore";
    /// Accepts that the volume this names (`vol_…`, the id `status.volume` recorded) is
    /// lost: the controller creates an empty volume in its place.
    pub const ACCEPT_DATA_LOSS: &str = "fasterclaw.io/accept-data-loss";
    /// Set by `fasterclaw import-original` on an Instance the original system had
    /// marked FAILED: the Instance starts FAILED with this message (keeping the app it
    /// adopts, so deleting it cleans up) until a retry provisions it afresh.
    pub const IMPORTED_FAILED: &str = "fasterclaw.io/imported-failed";
    /// Set by the facade on an Instance billing stopped, with the reason its owner is
    /// shown (`Billing: payment failed`); removed when it starts again. The controller
    /// does not read it.
    pub const BILLING_STOPPED: &str = "fasterclaw.io/billing-stopped";
    /// The image the fleet release gives the Instance, set by the controller's rollout
    /// when the Instance's turn comes (or on a rollback); the Instance moves to it at
    /// its next update. `spec.image` wins over it.
    pub const RELEASE_IMAGE: &str = "fasterclaw.io/release-image";
    /// When the rollout set `fasterclaw.io/release-image` (RFC 3339): the health
    /// deadline counts from it.
    pub const RELEASE_ASSIGNED_AT: &str = "fasterclaw.io/release-assigned-at";
}

/// The labels of the Instances the facade and the import create.
pub mod label {
    /// Who manages the Instance: the facade watches the Instances with this label.
    pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "fasterclaw-api");
    /// The owning account's id.
    pub const OWNER: &str = "fasterclaw.io/owner";
    /// The facade's record of the Instance.
    pub const INSTANCE_ID: &str = "fasterclaw.io/instance-id";
    /// The original system's id of an imported instance (a cuid), by which an operator
    /// selects them all.
    pub const IMPORTED_FROM: &str = "fasterclaw.io/imported-from";

    /// The selector of the Instances the facade manages.
    pub fn managed() -> String {
        format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
    }

    /// The selector of the Instances of one account.
    pub fn owned_by(owner: uuid::Uuid) -> String {
        format!("{},{OWNER}={owner}", managed())
    }
}

/// The shortest and longest `fasterclaw.io/poll-interval` honoured.
pub const POLL_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(24 * 3600));

/// The name of the Instance behind the facade's record `id`.
pub fn record_name(id: Uuid) -> String {
    format!("fc-{id}")
}

/// An Instance of an account, as the facade (and the import, for the accounts it brings
/// over) creates it.
#[derive(Clone, Debug)]
pub struct AccountInstance<'a> {
    /// The facade's record of it: its name is [`record_name`] of this.
    pub record: Uuid,
    /// Its namespace.
    pub namespace: &'a str,
    /// The owning account.
    pub owner: Uuid,
    /// The original system's id, for an imported instance.
    pub imported_from: Option<&'a str>,
    /// Annotations to start with.
    pub annotations: BTreeMap<String, String>,
    /// What it asks for.
    pub spec: InstanceSpec,
}

impl AccountInstance<'_> {
    /// The Instance, labelled as the facade's own.
    pub fn build(self) -> Instance {
        let mut labels = BTreeMap::from([
            (
                label::MANAGED_BY.0.to_owned(),
                label::MANAGED_BY.1.to_owned(),
            ),
            (label::OWNER.to_owned(), self.owner.to_string()),
            (label::INSTANCE_ID.to_owned(), self.record.to_string()),
        ]);
        if let Some(original) = self.imported_from {
            labels.insert(label::IMPORTED_FROM.to_owned(), original.to_owned());
        }
        Instance {
            metadata: ObjectMeta {
                name: Some(record_name(self.record)),
                namespace: Some(self.namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(self.annotations).filter(|a| !a.is_empty()),
                ..ObjectMeta::default()
            },
            spec: self.spec,
            status: None,
        }
    }
}

impl Instance {
    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }

    /// Whether the Instance carries the controller's finalizer.
    pub fn has_finalizer(&self) -> bool {
        self.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER)
    }

    /// Whether the Instance is paused.
    pub fn is_paused(&self) -> bool {
        self.annotation(annotation::PAUSED)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The Instance's own resync interval: `Ok(None)` without the annotation, `Err` with
    /// what to tell its author when its value is not a duration within
    /// [`POLL_INTERVAL_BOUNDS`] (then it is ignored).
    pub fn poll_interval(&self) -> Result<Option<Duration>, String> {
        let Some(text) = self.annotation(annotation::POLL_INTERVAL) else {
            return Ok(None);
        };
        let (shortest, longest) = POLL_INTERVAL_BOUNDS;
        match humantime::parse_duration(text.trim()) {
            Ok(interval) if (shortest..=longest).contains(&interval) => Ok(Some(interval)),
            _ => Err(format!(
                "{}: {:?} is not a duration from {} to {} (such as 30m); ignored, the controller's RESYNC_INTERVAL applies",
                annotation::POLL_INTERVAL,
                text.chars().take(64).collect::<String>(),
                humantime::format_duration(shortest),
                humantime::format_duration(longest),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{PowerState, TelegramTokenSource};

    fn spec() -> InstanceSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Bot",
            "ownerId": "o",
            "telegramToken": { "secretKeyRef": { "name": "s", "key": "k" } },
        }))
        .unwrap()
    }

    #[test]
    fn poll_intervals_are_bounded() {
        let with = |value: &str| {
            let mut instance = Instance::new("bot", spec());
            instance.metadata.annotations = Some(BTreeMap::from([(
                annotation::POLL_INTERVAL.to_owned(),
                value.to_owned(),
            )]));
            instance.poll_interval()
        };
        assert_eq!(with("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(with(" 5s "), Ok(Some(Duration::from_secs(5))));
        assert_eq!(with("24h"), Ok(Some(Duration::from_secs(86_400))));
        for hostile in [
            "584000000000y",
            "99999999999999999999s",
            "4s",
            "25h",
            "0s",
            "-5s",
            "soon",
            "",
        ] {
            let err = with(hostile).unwrap_err();
            assert!(err.starts_with("fasterclaw.io/poll-interval: "), "{err}");
        }
        assert!(
            with(&"9".repeat(500)).unwrap_err().len() < 300,
            "the value is cut short"
        );
    }

    #[test]
    fn an_accounts_instance_is_named_and_labelled_after_its_record() {
        let record = Uuid::from_u128(7);
        let owner = Uuid::from_u128(9);
        let mut spec = spec();
        spec.power_state = PowerState::Stopped;
        spec.telegram_token = TelegramTokenSource {
            stored_secret_id: Some(Uuid::from_u128(11)),
            secret_key_ref: None,
        };
        let instance = AccountInstance {
            record,
            namespace: "apps",
            owner,
            imported_from: Some("clx1"),
            annotations: BTreeMap::new(),
            spec: spec.clone(),
        }
        .build();
        let json = serde_json::to_value(&instance).unwrap();
        assert_eq!(json["apiVersion"], "fasterclaw.io/v1alpha1");
        assert_eq!(json["kind"], "Instance");
        assert_eq!(json["metadata"]["name"], format!("fc-{record}"));
        assert_eq!(json["metadata"]["namespace"], "apps");
        assert_eq!(
            json["metadata"]["labels"],
            serde_json::json!({
                "app.kubernetes.io/managed-by": "fasterclaw-api",
                "fasterclaw.io/owner": owner.to_string(),
                "fasterclaw.io/instance-id": record.to_string(),
                "fasterclaw.io/imported-from": "clx1",
            })
        );
        assert!(json["metadata"].get("annotations").is_none());
        assert_eq!(instance.spec, spec);
        assert_eq!(
            label::owned_by(owner),
            format!("app.kubernetes.io/managed-by=fasterclaw-api,fasterclaw.io/owner={owner}")
        );
    }
}
