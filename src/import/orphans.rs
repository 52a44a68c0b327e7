//! Apps the original made but never recorded. Its provisioning created the app, then the
//! machine, and saved the app's name only with the machine: when the machine failed, the
//! app was left on Fly.io under a name no row holds, `openclaw-<first 8 characters of the
//! user id>-<milliseconds since the epoch>`. Such an app is matched back to the FAILED
//! instance of that user whose lifetime holds its timestamp, and adopted by it; the ones
//! that match nothing are reported (and deleted when the operator asks).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::parse_original_app_name;

/// How far an app's timestamp may fall outside its instance's lifetime (clocks differ).
const SLACK: TimeDelta = TimeDelta::minutes(5);

/// The original's prefix of a user id in its app names.
pub fn owner_prefix(user_id: &str) -> String {
    user_id.chars().take(8).collect::<String>().to_lowercase()
}

/// The apps of the original's form that no row or Instance records, by owner prefix.
#[derive(Debug, Default)]
pub struct Orphans {
    by_owner: BTreeMap<String, Vec<(DateTime<Utc>, String)>>,
}

impl Orphans {
    /// The orphans among `apps`, leaving out the `recorded` ones.
    pub fn new<'a>(apps: impl IntoIterator<Item = &'a str>, recorded: &BTreeSet<String>) -> Self {
        let mut by_owner: BTreeMap<String, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
        for app in apps {
            if recorded.contains(app) {
                continue;
            }
            if let Some((owner, at)) = parse_original_app_name(app) {
                by_owner
                    .entry(owner)
                    .or_default()
                    .push((at, app.to_owned()));
            }
        }
        for apps in by_owner.values_mut() {
            apps.sort();
        }
        Self { by_owner }
    }

    /// Takes the newest orphan of `user_id` made between `from` and `to`: the app of the
    /// instance's last attempt.
    pub fn claim(
        &mut self,
        user_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<String> {
        let apps = self.by_owner.get_mut(&owner_prefix(user_id))?;
        let index = apps
            .iter()
            .rposition(|(at, _)| *at >= from - SLACK && *at <= to + SLACK)?;
        Some(apps.remove(index).1)
    }

    /// The orphans nothing claimed, by name.
    pub fn unclaimed(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_owner
            .values()
            .flatten()
            .map(|(_, name)| name.clone())
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }

    #[test]
    fn the_owner_prefix_is_the_ids_first_eight_characters_lowercased() {
        assert_eq!(owner_prefix("CLX8k2m0q0000abcd"), "clx8k2m0");
    }

    #[test]
    fn the_newest_app_in_the_lifetime_is_claimed_and_the_rest_stay() {
        let recorded = BTreeSet::from(["openclaw-clalice0-1732000000500".to_owned()]);
        let mut orphans = Orphans::new(
            [
                "openclaw-clalice0-1732000000100",
                "openclaw-clalice0-1732000000200",
                "openclaw-clalice0-1732000000500",
                "openclaw-clalice0-1999000000000",
                "openclaw-clbob000-1732000000150",
                "someone-elses-app",
            ],
            &recorded,
        );
        let window = (at(1_732_000_000_000), at(1_732_000_000_300));
        assert_eq!(
            orphans.claim("clalice00000000000000001a", window.0, window.1),
            Some("openclaw-clalice0-1732000000200".to_owned())
        );
        assert_eq!(
            orphans.claim("clalice00000000000000001a", window.0, window.1),
            Some("openclaw-clalice0-1732000000100".to_owned())
        );
        assert_eq!(
            orphans.claim("clalice00000000000000001a", window.0, window.1),
            None
        );
        assert_eq!(
            orphans.claim("clcarol00000000000000001", window.0, window.1),
            None
        );
        assert_eq!(
            orphans.unclaimed(),
            [
                "openclaw-clalice0-1999000000000",
                "openclaw-clbob000-1732000000150"
            ]
        );
    }
}
