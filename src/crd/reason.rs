//! The reasons an Instance's conditions give, as `kubectl describe` and the facade show
//! them: one place that names each.

use std::fmt;

/// Declares a reason enum, each variant named as it is written in the status.
macro_rules! reasons {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every reason.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The reason as the condition writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }

            /// The reason a condition wrote, if it is one of these.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|r| r.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reasons! {
    /// Why `Synced` is what it is: whether the last reconcile applied the spec, and if
    /// not, what stops it.
    SyncedReason {
        /// Fly.io matches the spec, or is on its way there.
        ReconcileSuccess,
        /// The `fasterclaw.io/paused` annotation stops every write to Fly.io.
        ReconcilePaused,
        /// The controller has no key for the model's provider.
        PlatformKeyMissing,
        /// `spec.image` is not from a repository the controller allows.
        ImageNotAllowed,
        /// `spec.aiModel` is not a model the pinned OpenClaw offers.
        ModelNotOffered,
        /// The Telegram token cannot be had.
        TokenUnavailable,
        /// The app's name, or the app to adopt, is not this Instance's to hold.
        AppNameConflict,
        /// `spec.adopt` names an app the import does not hand over.
        AdoptionRefused,
        /// The Instance has run, and its volume is gone: nothing is created in its place
        /// until an operator accepts the loss or restores a snapshot.
        VolumeLost,
        /// No region of the Instance (`region`, then `fallbackRegions`) has room now;
        /// the controller tries again.
        NoCapacity,
        /// Fly.io refused the request.
        FlyRejected,
        /// Fly.io refused the controller's token.
        FlyUnauthorized,
        /// A transition lasted longer than the controller allows.
        Timeout,
        /// Something failed that may pass; the reconcile is retried with backoff.
        ReconcileError,
        /// Imported FAILED from the original system.
        ImportedFailed,
        /// FAILED for a reason this version does not name.
        Failed,
    }
}

reasons! {
    /// Why `Ready` is what it is: whether the assistant is usable.
    ReadyReason {
        /// The machine runs, as asked, and its gateway passes its health check.
        Running,
        /// The machine runs; its gateway does not pass its health check (yet).
        GatewayUnhealthy,
        /// OpenClaw refused the configuration at start (exit 78).
        ConfigRefused,
        /// The machine is stopped, as asked (True), or stopped while asked to run.
        Stopped,
        /// Nothing exists on Fly.io yet, or the machine is being made.
        Creating,
        /// The app exists; the machine is being created.
        Provisioning,
        /// The machine is starting.
        Starting,
        /// The machine is stopping.
        Stopping,
        /// The machine failed.
        MachineFailed,
        /// The machine is in a state that is none of the above.
        Unavailable,
        /// The Instance is FAILED; see `Synced`.
        Failed,
        /// The machine and the app are gone.
        Deleted,
    }
}

impl SyncedReason {
    /// Whether an Instance with this reason is FAILED: only a spec change or a retry
    /// starts it over.
    pub fn fails(self) -> bool {
        matches!(
            self,
            Self::AppNameConflict
                | Self::AdoptionRefused
                | Self::FlyRejected
                | Self::Timeout
                | Self::ImportedFailed
                | Self::Failed
        )
    }

    /// Whether the problem passes by itself (the controller looks again after its
    /// backoff rather than waiting for a change).
    pub fn passes(self) -> bool {
        matches!(self, Self::NoCapacity)
    }

    /// The reason a FAILED Instance keeps when it is reported again: the one it has when
    /// that is a reason to fail, else [`SyncedReason::Failed`].
    pub fn of_failed(text: &str) -> Self {
        Self::parse(text)
            .filter(|r| r.fails())
            .unwrap_or(Self::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_written_as_named_and_read_back() {
        for reason in SyncedReason::ALL {
            assert_eq!(SyncedReason::parse(reason.as_str()), Some(*reason));
        }
        for reason in ReadyReason::ALL {
            assert_eq!(ReadyReason::parse(reason.as_str()), Some(*reason));
        }
        assert_eq!(SyncedReason::AppNameConflict.as_str(), "AppNameConflict");
        assert_eq!(SyncedReason::of_failed("Timeout"), SyncedReason::Timeout);
        assert_eq!(
            SyncedReason::of_failed("SomethingOld"),
            SyncedReason::Failed
        );
        assert_eq!(
            SyncedReason::of_failed("ReconcileError"),
            SyncedReason::Failed
        );
        assert_eq!(ReadyReason::MachineFailed.to_string(), "MachineFailed");
    }
}
