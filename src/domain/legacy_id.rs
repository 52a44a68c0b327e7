//! Ids of rows imported from the original system. The original named users,
//! subscriptions and instances by cuids; an imported row gets a UUID derived from its
//! cuid (UUID version 5, one namespace per kind), so the same row always lands under
//! the same id, and a cuid in a session token or a URL leads to it without a lookup.

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

#[cfg(test)]
mod tests {
    use super::*;

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
