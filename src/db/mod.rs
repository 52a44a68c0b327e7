//! The Postgres store shared by the facade and the controller: typed repositories over
//! sqlx with compile-time checked queries, and the migrations that define the schema.

mod audit;
mod error;
mod google_sign_ins;
mod import;
mod instances;
mod lifecycle;
pub mod reseal;
mod secrets;
mod settings;
mod stripe_events;
mod subscriptions;
mod users;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};

pub use audit::{AuditEntry, AuditLog};
pub use error::StoreError;
pub use google_sign_ins::{GoogleSignIns, PendingSignIn};
pub use import::{
    ImportedInstance, ImportedSubscription, ImportedUser, Imports, InstancePresence, UserPresence,
};
pub use instances::{InstanceRecord, Instances, NewInstance};
pub use lifecycle::{BillingInstance, BillingLifecycle, Lapse};
pub use secrets::{SecretKind, Secrets};
pub use settings::DatabaseArgs;
pub use stripe_events::StripeEvents;
pub use subscriptions::{SubscriptionRecord, SubscriptionUpdate, Subscriptions};
pub use users::{UserRecord, Users};

use crate::crypto::Keyring;

/// The schema's migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A pool of connections to the FasterClaw database.
#[derive(Clone, Debug)]
pub struct Database {
    pool: PgPool,
}

impl Database {
    /// Connects to `url`, failing after 10 seconds if Postgres cannot be reached.
    pub async fn connect(url: &SecretString) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(StoreError::Connect)?;
        // One direct connection first: its error says why (refused, bad password, no
        // such database), where a pool would only say it timed out.
        PgConnection::connect_with(&options)
            .await
            .map_err(StoreError::Connect)?
            .close()
            .await
            .map_err(StoreError::Connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Accounts.
    pub fn users(&self) -> Users<'_> {
        Users::new(&self.pool)
    }

    /// The facade's records of Instances, each created with its sealed token.
    pub fn instances<'a>(&'a self, keyring: &'a Keyring) -> Instances<'a> {
        Instances::new(&self.pool, keyring)
    }

    /// Sealed secrets: Telegram tokens and Stripe customer ids.
    pub fn secrets<'a>(&'a self, keyring: &'a Keyring) -> Secrets<'a> {
        Secrets::new(&self.pool, keyring)
    }

    /// Stripe subscriptions.
    pub fn subscriptions(&self) -> Subscriptions<'_> {
        Subscriptions::new(&self.pool)
    }

    /// Stripe webhook events already processed.
    pub fn stripe_events(&self) -> StripeEvents<'_> {
        StripeEvents::new(&self.pool)
    }

    /// Writing rows imported from the original system.
    pub fn imports<'a>(&'a self, keyring: &'a Keyring) -> Imports<'a> {
        Imports::new(&self.pool, keyring)
    }

    /// The billing lifecycle's records: lapses and why billing stopped instances.
    pub fn billing_lifecycle(&self) -> BillingLifecycle<'_> {
        BillingLifecycle::new(&self.pool)
    }

    /// Sign-ins with Google under way.
    pub fn google_sign_ins(&self) -> GoogleSignIns<'_> {
        GoogleSignIns::new(&self.pool)
    }

    /// The audit log.
    pub fn audit(&self) -> AuditLog<'_> {
        AuditLog::new(&self.pool)
    }
}
