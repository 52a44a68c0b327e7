//! The snapshot or kept volume a restore names in its path: `vs_…` or `vol_…`, checked
//! before anything is asked of the controller.

use std::fmt;

/// Longest id of a snapshot or a volume, as the status records them.
pub const MAX_ID_LEN: usize = 64;

/// What a restore goes back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreSource {
    /// A snapshot of the volume (`vs_…`), one of `status.snapshots`.
    Snapshot(String),
    /// A volume kept after an earlier restore or move (`vol_…`), one of
    /// `status.retainedVolumes`: going back to it undoes that restore or move.
    Volume(String),
}

impl RestoreSource {
    /// The source `text` names, or why it names none: `vs_` or `vol_` followed by ASCII
    /// letters and digits, 64 characters at most.
    pub fn parse(text: &str) -> Result<Self, String> {
        let named = |prefix: &str| {
            text.len() <= MAX_ID_LEN
                && text.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
                })
        };
        if named("vs_") {
            Ok(Self::Snapshot(text.to_owned()))
        } else if named("vol_") {
            Ok(Self::Volume(text.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a snapshot id: a snapshot is vs_ followed by letters and digits, as GET /instances/{{id}}/snapshots lists them (or vol_ and letters and digits for a kept volume, to undo a restore); {MAX_ID_LEN} characters at most",
                text.chars().take(MAX_ID_LEN).collect::<String>()
            ))
        }
    }

    /// The id, as the annotation and the status write it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Snapshot(id) | Self::Volume(id) => id,
        }
    }
}

impl fmt::Display for RestoreSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_snapshots_or_kept_volumes_by_id() {
        assert_eq!(
            RestoreSource::parse("vs_2kx9q7ab"),
            Ok(RestoreSource::Snapshot("vs_2kx9q7ab".to_owned()))
        );
        assert_eq!(
            RestoreSource::parse("vs_MgLAggLZkYx89fLy"),
            Ok(RestoreSource::Snapshot("vs_MgLAggLZkYx89fLy".to_owned()))
        );
        assert_eq!(
            RestoreSource::parse("vol_9vw681egy1jj5xm4"),
            Ok(RestoreSource::Volume("vol_9vw681egy1jj5xm4".to_owned()))
        );
        let longest = format!("vs_{}", "a".repeat(MAX_ID_LEN - 3));
        assert!(RestoreSource::parse(&longest).is_ok());
        for bad in [
            "",
            "vs_",
            "vol_",
            "vs-abc",
            "VS_abc",
            "snap_abc",
            "vs_abc def",
            "vs_abc/../x",
            "vs_ab\u{0}c",
            "vs_é",
            " vs_abc",
            &format!("{longest}a"),
        ] {
            let err = RestoreSource::parse(bad).unwrap_err();
            assert!(err.contains("is not a snapshot id"), "{bad:?}: {err}");
        }
        let long = RestoreSource::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(long.len() < 400, "the value is cut short: {long}");
    }
}
