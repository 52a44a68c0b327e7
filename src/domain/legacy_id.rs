//! Ids of rows imported from the original system. The original named users,
//! subscriptions and instances by cuids; an imported row gets a UUID derived from its
//! cuid (UUID version 5, one namespace per kind), so the same row always lands under
//! the same id, and a cuid in a session token or a URL leads to it without a lookup.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The kinds of imported rows, each with its own id namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyKind {
    /// An account (`User`).
    User,
    /// A subscription (`Subscription`).
    Subscription,
    /// An instance (`Instance`).
    Instance,
}

impl LegacyKind {
    fn namespace(self) -> Uuid {
        // Fixed, random namespaces: changing one would orphan every imported row.
        match self {
            Self::User => Uuid::from_u128(0x8f3c_2d1e_6b4a_4c7e_9a51_0d2f_7e93_b611),
            Self::Subscription => Uuid::from_u128(0x2a6e_91c4_3f0b_4d88_b7e2_5c19_a4d6_0f37),
            Self::Instance => Uuid::from_u128(0xd47b_0e63_8c25_41f9_a3be_6f80_1c5d_e2a4),
        }
    }
}

/// The id an imported row of `kind` has here.
pub fn imported_id(kind: LegacyKind, legacy_id: &str) -> Uuid {
    Uuid::new_v5(&kind.namespace(), legacy_id.as_bytes())
}

/// Whether `text` could be an id the original gave (a cuid: 1 to 63 letters and
/// digits, such as `clx8k2m0q0000abcd1234efgh`).
pub fn is_legacy_id(text: &str) -> bool {
    (1..=63).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The pattern of the app names the original gave: `openclaw-<the first 8 characters of
/// the user id, lowercased>-<milliseconds since the epoch>`.
pub const ORIGINAL_APP_NAME_PATTERN: &str = "^openclaw-[a-z0-9]{1,8}-[0-9]{10,16}$";

/// The owner prefix and creation time an app name of the original's form carries, or
/// `None` for any other name.
pub fn parse_original_app_name(name: &str) -> Option<(String, DateTime<Utc>)> {
    let rest = name.strip_prefix("openclaw-")?;
    let (owner, millis) = rest.rsplit_once('-')?;
    let valid_owner = (1..=8).contains(&owner.len())
        && owner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid_millis =
        (10..=16).contains(&millis.len()) && millis.bytes().all(|b| b.is_ascii_digit());
    if !valid_owner || !valid_millis {
        return None;
    }
    let at = DateTime::from_timestamp_millis(millis.parse().ok()?)?;
    Some((owner.to_owned(), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_of_the_original_form_parse_and_match_the_pattern() {
        let pattern = regex::Regex::new(ORIGINAL_APP_NAME_PATTERN).unwrap();
        for (name, parsed) in [
            (
                "openclaw-clx8k2m0-1732000000123",
                Some(("clx8k2m0", 1_732_000_000_123)),
            ),
            ("fasterclaw-6f1c2a34", None),
            ("openclaw-CLX8-1732000000123", None),
            ("openclaw-clx8k2m0-17320", None),
            ("openclaw-toolongprefix-1732000000123", None),
            ("openclaw--1732000000123", None),
            ("openclaw-clx8k2m0-1732000000123-x", None),
        ] {
            let want = parsed.map(|(owner, millis)| {
                (
                    owner.to_owned(),
                    DateTime::from_timestamp_millis(millis).unwrap_or_default(),
                )
            });
            assert_eq!(parse_original_app_name(name), want, "{name}");
            assert_eq!(pattern.is_match(name), want.is_some(), "{name}");
        }
    }

    #[test]
    fn imported_ids_are_stable_and_differ_by_kind() {
        let cuid = "clx8k2m0q0000abcd1234efgh";
        let user = imported_id(LegacyKind::User, cuid);
        assert_eq!(user, imported_id(LegacyKind::User, cuid));
        assert_ne!(user, imported_id(LegacyKind::Instance, cuid));
        assert_ne!(
            user,
            imported_id(LegacyKind::User, "clx8k2m0q0000abcd1234efgi")
        );
        assert_eq!(user.get_version_num(), 5);
        assert!(is_legacy_id(cuid));
        assert!(!is_legacy_id(""));
        assert!(!is_legacy_id("a b"));
    }
}
