//! Names the controller gives things on Fly.io and the annotations it reads: stable
//! functions of an Instance, so a restarted controller finds what it made before.

use std::collections::BTreeMap;

use crate::crd::Instance;

/// The finalizer that holds a deleted Instance until its Fly.io resources are gone.
pub const FINALIZER: &str = "fasterclaw.io/cleanup";
/// The field manager of the controller's server-side applies.
pub const FIELD_MANAGER: &str = "fasterclaw-controller";

/// Annotation: `"true"` stops every write to Fly.io for the Instance.
pub const PAUSED: &str = "fasterclaw.io/paused";
/// Annotation: a changed value asks for an immediate sync, echoed into
/// `status.lastHandledReconcileAt`.
pub const RECONCILE_REQUESTED_AT: &str = "fasterclaw.io/reconcile-requested-at";
/// Annotation: a changed value starts a FAILED Instance over, echoed into
/// `status.lastHandledRetryAt`.
pub const RETRY_REQUESTED_AT: &str = "fasterclaw.io/retry-requested-at";
/// Annotation: how often this Instance is checked when settled (`30s`, `1h`).
pub const POLL_INTERVAL: &str = "fasterclaw.io/poll-interval";

/// Annotation set by `fasterclaw import-original` on an Instance the original system
/// had marked FAILED: the Instance starts FAILED with this message (keeping the app it
/// adopts, so deleting it cleans up) until a retry provisions it afresh.
pub const IMPORTED_FAILED: &str = "fasterclaw.io/imported-failed";

/// Machine metadata: the Instance's uid, by which a lost machine is found again.
pub const TAG_UID: &str = "fasterclaw_instance_uid";
/// Machine metadata: the Instance's namespace.
pub const TAG_NAMESPACE: &str = "fasterclaw_instance_namespace";
/// Machine metadata: the Instance's name.
pub const TAG_NAME: &str = "fasterclaw_instance_name";

/// The app secret that marks an app as the one made for an Instance: its name carries
/// the Instance's uid, its value is not secret.
pub fn marker_secret(uid: &str) -> String {
    format!("{MARKER_PREFIX}{}", compact_uid(uid).to_uppercase())
}

/// The start of every marker secret's name.
pub const MARKER_PREFIX: &str = "FASTERCLAW_INSTANCE_";

fn compact_uid(uid: &str) -> String {
    uid.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// The Fly.io app of an Instance: the prefix and the uid without dashes. App names are
/// global on Fly.io; a uid is unique and never reused, and survives controller restarts.
pub fn app_name(prefix: &str, uid: &str) -> String {
    format!("{prefix}-{}", compact_uid(uid))
}

/// The machine's name within its app.
pub fn machine_name(instance: &Instance) -> String {
    let name = instance.metadata.name.as_deref().unwrap_or("instance");
    // Fly machine names are free-form, but keep them short and readable.
    name.chars().take(63).collect()
}

/// The metadata tags linking a machine to its Instance.
pub fn machine_tags(instance: &Instance) -> BTreeMap<String, String> {
    let meta = &instance.metadata;
    BTreeMap::from([
        (TAG_UID.to_owned(), meta.uid.clone().unwrap_or_default()),
        (
            TAG_NAMESPACE.to_owned(),
            meta.namespace.clone().unwrap_or_default(),
        ),
        (TAG_NAME.to_owned(), meta.name.clone().unwrap_or_default()),
    ])
}

/// An annotation's value.
pub fn annotation<'a>(instance: &'a Instance, key: &str) -> Option<&'a str> {
    instance
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Whether the Instance is paused.
pub fn is_paused(instance: &Instance) -> bool {
    annotation(instance, PAUSED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_stable_valid_fly_names() {
        let uid = "6F1C2A34-5b6d-4e7f-8091-a2b3c4d5e6f7";
        let name = app_name("fasterclaw", uid);
        assert_eq!(name, "fasterclaw-6f1c2a345b6d4e7f8091a2b3c4d5e6f7");
        assert_eq!(name, app_name("fasterclaw", uid));
        assert!(name.len() <= 63);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_eq!(
            marker_secret(uid),
            "FASTERCLAW_INSTANCE_6F1C2A345B6D4E7F8091A2B3C4D5E6F7"
        );
    }
}
