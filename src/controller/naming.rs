//! Names the controller gives things on Fly.io and the annotations it reads: stable
//! functions of an Instance, so a restarted controller finds what it made before.

use std::collections::BTreeMap;
use std::time::Duration;

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

/// Whether `app` is a name this controller gives the Instance `uid`'s app, under any
/// prefix (the prefix may have changed since it was made): only that uid gives it.
pub fn is_own_app_name(app: &str, uid: &str) -> bool {
    app.strip_suffix(&compact_uid(uid))
        .and_then(|prefix| prefix.strip_suffix('-'))
        .is_some_and(|prefix| !prefix.is_empty())
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

/// The shortest and longest `fasterclaw.io/poll-interval` honoured.
pub const POLL_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(24 * 3600));

/// The Instance's own resync interval: `Ok(None)` without the annotation, `Err` with
/// what to tell its author when its value is not a duration within
/// [`POLL_INTERVAL_BOUNDS`] (then it is ignored).
pub fn poll_interval(instance: &Instance) -> Result<Option<Duration>, String> {
    let Some(text) = annotation(instance, POLL_INTERVAL) else {
        return Ok(None);
    };
    let (shortest, longest) = POLL_INTERVAL_BOUNDS;
    match humantime::parse_duration(text.trim()) {
        Ok(interval) if (shortest..=longest).contains(&interval) => Ok(Some(interval)),
        _ => Err(format!(
            "{POLL_INTERVAL}: {:?} is not a duration from {} to {} (such as 30m); ignored, the controller's RESYNC_INTERVAL applies",
            text.chars().take(64).collect::<String>(),
            humantime::format_duration(shortest),
            humantime::format_duration(longest),
        )),
    }
}

/// Whether the Instance is paused.
pub fn is_paused(instance: &Instance) -> bool {
    annotation(instance, PAUSED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_intervals_are_bounded() {
        let with = |value: &str| {
            let mut instance = Instance::new(
                "bot",
                serde_json::from_value(serde_json::json!({
                    "displayName": "Bot",
                    "ownerId": "o",
                    "telegramToken": { "secretKeyRef": { "name": "s", "key": "k" } },
                }))
                .unwrap(),
            );
            instance.metadata.annotations = Some(BTreeMap::from([(
                POLL_INTERVAL.to_owned(),
                value.to_owned(),
            )]));
            poll_interval(&instance)
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
        assert!(is_own_app_name(&name, uid));
        assert!(is_own_app_name(
            "renamed-6f1c2a345b6d4e7f8091a2b3c4d5e6f7",
            uid
        ));
        assert!(!is_own_app_name("-6f1c2a345b6d4e7f8091a2b3c4d5e6f7", uid));
        assert!(!is_own_app_name("fasterclaw-0000", uid));
        assert!(!is_own_app_name("openclaw-clalice0-1732000000001", uid));
    }
}
