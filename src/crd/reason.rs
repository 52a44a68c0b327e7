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
        /// The gateway exited too often in a short time: the controller stopped the
        /// machine rather than start it forever.
        CrashLoop,
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

reasons! {
    /// Why `Healthy` is what it is: whether the gateway works, and if not, what is wrong.
    HealthReason {
        /// It lives, its Telegram channel is ready, and it has not crashed lately.
        Healthy,
        /// It is starting: within the start-up grace, its checks may fail.
        Starting,
        /// Its health check (or its channel's readiness) keeps failing after the grace.
        CheckFailing,
        /// It exited too often in a short time; see `status.recentExits`.
        CrashLoop,
        /// Telegram refuses the bot's token (revoked in BotFather, or wrong): the owner
        /// must give a new one. Restarts would not help, so none are made.
        TelegramTokenRejected,
        /// Another program polls Telegram with the same bot token: the owner must stop
        /// it (or give this assistant a token of its own).
        TelegramConflict,
        /// The kernel killed the gateway for want of memory lately.
        OutOfMemory,
        /// Fly.io cannot reach the machine's host: the assistant moves with its data.
        HostFailed,
        /// The machine stopped while the Instance wants it running; it is started again.
        Stopped,
        /// The assistant is not asked to run, or nothing runs yet (status `Unknown`).
        NotRunning,
    }
}

impl HealthReason {
    /// Whether only the owner can fix it: the controller waits for a new token (or the
    /// other poller to stop) instead of restarting anything.
    pub fn is_owners(self) -> bool {
        matches!(self, Self::TelegramTokenRejected | Self::TelegramConflict)
    }

    /// What the web app tells the owner, in words, when the assistant is not healthy.
    pub fn for_owner(self) -> Option<&'static str> {
        Some(match self {
            Self::Healthy | Self::NotRunning => return None,
            Self::Starting => "Your assistant is starting.",
            Self::CheckFailing => "Your assistant is not answering; we are restarting it for you.",
            Self::CrashLoop => {
                "Your assistant keeps crashing, so we stopped it. Retry it, or contact support if it happens again."
            }
            Self::TelegramTokenRejected => {
                "Your Telegram token was revoked or is wrong: update it with a new token from @BotFather."
            }
            Self::TelegramConflict => {
                "Another program is using your Telegram bot token: stop it, or give this assistant a token of its own."
            }
            Self::OutOfMemory => {
                "Your assistant ran out of memory and was restarted; it may need a larger machine."
            }
            Self::HostFailed => {
                "The server your assistant ran on failed; we are moving it with its data."
            }
            Self::Stopped => "Your assistant stopped unexpectedly; we are starting it again.",
        })
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
                | Self::CrashLoop
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
        for reason in HealthReason::ALL {
            assert_eq!(HealthReason::parse(reason.as_str()), Some(*reason));
            let words = reason.for_owner();
            assert_eq!(
                words.is_none(),
                matches!(reason, HealthReason::Healthy | HealthReason::NotRunning)
            );
        }
        assert!(HealthReason::TelegramTokenRejected.is_owners());
        assert!(!HealthReason::CheckFailing.is_owners());
        assert!(SyncedReason::CrashLoop.fails());
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
