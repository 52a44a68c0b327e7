//! Reading the original system's database (its Prisma schema: `"User"`,
//! `"Subscription"`, `"Instance"`, camelCase columns, `timestamp(3)` times in UTC) in
//! one read-only, repeatable-read transaction: every table as of the same moment, and
//! nothing written to it.

use chrono::{DateTime, NaiveDateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::ImportError;

/// An account of the original. Neither `Debug` nor `Clone`: it holds a password hash.
#[derive(sqlx::FromRow)]
pub struct OriginalUser {
    /// cuid.
    pub id: String,
    /// Email, as the person typed it.
    pub email: String,
    /// bcrypt hash; empty for accounts made by Google sign-in.
    pub password_hash: String,
    /// The person's name.
    pub name: Option<String>,
    /// Stripe customer id.
    pub stripe_customer_id: Option<String>,
    /// When it was created.
    pub created_at: NaiveDateTime,
}

/// A subscription of the original: one per user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OriginalSubscription {
    /// cuid.
    pub id: String,
    /// The user's cuid.
    pub user_id: String,
    /// Stripe customer id.
    pub stripe_customer_id: String,
    /// Stripe subscription id.
    pub stripe_subscription_id: String,
    /// Stripe price id.
    pub stripe_price_id: Option<String>,
    /// Stripe status, upper-cased (`ACTIVE`, `CANCELED`, ...).
    pub status: String,
    /// `starter`, `pro` or `enterprise`.
    pub plan: Option<String>,
    /// Instances allowed; -1 is unlimited.
    pub instance_limit: i32,
    /// Start of the current period.
    pub current_period_start: Option<NaiveDateTime>,
    /// End of the current period.
    pub current_period_end: NaiveDateTime,
    /// Whether it ends with the current period.
    pub cancel_at_period_end: bool,
    /// When it was created.
    pub created_at: NaiveDateTime,
}

/// An instance of the original. Not `Debug`: it holds the Telegram token.
#[derive(sqlx::FromRow)]
pub struct OriginalInstance {
    /// cuid.
    pub id: String,
    /// The owner's cuid.
    pub user_id: String,
    /// Name shown to the owner.
    pub name: String,
    /// `fly` or `docker`.
    pub provider: String,
    /// Fly machine id, once one was made.
    pub fly_machine_id: Option<String>,
    /// Fly app name, once the machine was made.
    pub fly_app_name: Option<String>,
    /// `CREATING`, `RUNNING`, `STOPPED`, `FAILED`, `DELETED`, ...
    pub status: String,
    /// The token: plaintext, or `ivhex:taghex:cthex` under the original's key.
    pub telegram_bot_token: Option<String>,
    /// AI model.
    pub ai_model: String,
    /// Fly region.
    pub region: String,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed (for a FAILED one: when it failed).
    pub updated_at: NaiveDateTime,
}

/// Everything the import reads, as of one moment.
pub struct Snapshot {
    /// Accounts, oldest first.
    pub users: Vec<OriginalUser>,
    /// Subscriptions, oldest first.
    pub subscriptions: Vec<OriginalSubscription>,
    /// Instances, oldest first.
    pub instances: Vec<OriginalInstance>,
}

/// A time the original stored (UTC, without a zone).
pub fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// Reads the original database at `url`.
pub async fn read(url: &SecretString) -> Result<Snapshot, ImportError> {
    let options: PgConnectOptions = url
        .expose_secret()
        .parse()
        .map_err(|e| ImportError::Source(format!("SOURCE_DATABASE_URL does not parse: {e}")))?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| ImportError::Source(format!("cannot connect: {e}")))?;
    let mut tx = conn.begin().await.map_err(source_error)?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await
        .map_err(source_error)?;
    let users = sqlx::query_as::<_, OriginalUser>(
        r#"select id, email, "passwordHash" as password_hash, name,
               "stripeCustomerId" as stripe_customer_id, "createdAt" as created_at
           from "User" order by "createdAt", id"#,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(source_error)?;
    let subscriptions = sqlx::query_as::<_, OriginalSubscription>(
        r#"select id, "userId" as user_id, "stripeCustomerId" as stripe_customer_id,
               "stripeSubscriptionId" as stripe_subscription_id,
               "stripePriceId" as stripe_price_id, status, plan,
               "instanceLimit" as instance_limit,
               "currentPeriodStart" as current_period_start,
               "currentPeriodEnd" as current_period_end,
               "cancelAtPeriodEnd" as cancel_at_period_end, "createdAt" as created_at
           from "Subscription" order by "createdAt", id"#,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(source_error)?;
    let instances = sqlx::query_as::<_, OriginalInstance>(
        r#"select id, "userId" as user_id, name, provider, "flyMachineId" as fly_machine_id,
               "flyAppName" as fly_app_name, status,
               "telegramBotToken" as telegram_bot_token, "aiModel" as ai_model, region,
               "createdAt" as created_at, "updatedAt" as updated_at
           from "Instance" order by "createdAt", id"#,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(source_error)?;
    tx.rollback().await.map_err(source_error)?;
    Ok(Snapshot {
        users,
        subscriptions,
        instances,
    })
}

fn source_error(e: sqlx::Error) -> ImportError {
    ImportError::Source(format!(
        "{e} (is SOURCE_DATABASE_URL the original system's database, with its Prisma schema?)"
    ))
}
