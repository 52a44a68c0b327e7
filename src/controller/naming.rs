//! The names the controller gives things on Fly.io: stable functions of an Instance, so
//! a restarted controller finds what it made before. (The Instance's own vocabulary,
//! its annotations, labels and finalizer, is in [`crate::crd::vocabulary`].)

use std::collections::BTreeMap;

use crate::crd::Instance;

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

/// The name of the volume holding an Instance's state, within its app (Fly.io volume
/// names need not be unique; the id in the status is what counts, the name is how a
/// lost id is found again).
pub const VOLUME_NAME: &str = "openclaw_data";

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
