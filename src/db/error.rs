use crate::crypto::OpenError;

/// Why a store operation failed. Constraint violations that callers can act on are
/// their own variants, so a duplicate email becomes a conflict rather than a 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Postgres could not be reached.
    #[error("cannot connect to Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    /// An account with this email (in any letter case) exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The Google account is linked to another account already.
    #[error("this Google account is linked to another account")]
    GoogleAccountTaken,
    /// An instance with this namespace and name exists.
    #[error("an instance with this namespace and name already exists")]
    InstanceNameTaken,
    /// The Stripe subscription id is recorded already.
    #[error("this Stripe subscription is already recorded")]
    SubscriptionTaken,
    /// The owner has no ACTIVE subscription.
    #[error("no active subscription")]
    NoActiveSubscription,
    /// The owner already has as many instances as the limit allows.
    #[error("instance limit reached ({limit})")]
    LimitReached {
        /// The limit.
        limit: i64,
    },
    /// The row does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row belongs to something other than the one asking.
    #[error("the {0} belongs to another instance")]
    NotYours(&'static str),
    /// A stored secret did not open.
    #[error("stored secret {id}: {source}")]
    Secret {
        /// The secret's row id.
        id: uuid::Uuid,
        /// Why it did not open.
        #[source]
        source: OpenError,
    },
    /// The work kept meeting concurrent changes and gave up, for now.
    #[error("busy: {0}")]
    Busy(&'static str),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Maps a unique violation of `constraint` to `conflict`, and anything else to
    /// [`StoreError::Database`].
    pub(super) fn on_unique(
        constraint: &str,
        conflict: StoreError,
    ) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some(constraint) =>
            {
                conflict
            }
            _ => StoreError::Database(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}
