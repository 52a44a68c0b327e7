//! The original system as it stands before a move: its database (the Prisma schema,
//! rows as its code wrote them) and, on the Fly.io simulator, the apps and machines it
//! made, with the Telegram token and the provider key in plain machine env.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::postgres::TestDatabase;

/// The original's schema.
const SCHEMA: &str = include_str!("../../fixtures/original/schema.sql");
/// Hashes bcryptjs made at cost 12, with their passwords.
const BCRYPTJS: &str = include_str!("../../fixtures/bcryptjs-hashes.json");
/// Values the original encrypted, with its key.
const LEGACY: &str = include_str!("../../fixtures/legacy-vectors.json");

/// The original's image.
pub const IMAGE: &str = "ghcr.io/openclaw/openclaw:latest";
/// The provider key the original put in every Anthropic machine's env.
pub const ORIGINAL_ANTHROPIC_KEY: &str = "sk-ant-original-0011223344556677";
/// The provider key the original put in every OpenAI machine's env.
pub const ORIGINAL_OPENAI_KEY: &str = "sk-openai-original-8899aabbccddeeff";

/// The original's database.
pub struct OriginalDatabase {
    /// It.
    pub db: TestDatabase,
}

/// A bcryptjs hash and its password.
pub struct Hashed {
    /// The password.
    pub password: String,
    /// The hash the original stored.
    pub hash: String,
}

/// The bcryptjs hashes of the fixture.
pub fn bcryptjs_hashes() -> Vec<Hashed> {
    let fixture: Value = serde_json::from_str(BCRYPTJS).expect("the bcryptjs fixture parses");
    fixture["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| Hashed {
            password: h["password"].as_str().expect("a password").to_owned(),
            hash: h["hash"].as_str().expect("a hash").to_owned(),
        })
        .collect()
}

/// The original's ENCRYPTION_KEY and its encrypted Telegram tokens as
/// `(stored, plaintext)`.
pub fn legacy_tokens() -> (String, Vec<(String, String)>) {
    let fixture: Value = serde_json::from_str(LEGACY).expect("the legacy fixture parses");
    let tokens = fixture["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .filter(|v| v["kind"] == "telegram_bot_token")
        .map(|v| {
            (
                v["stored"].as_str().expect("stored").to_owned(),
                v["plaintext"].as_str().expect("plaintext").to_owned(),
            )
        })
        .collect();
    (fixture["key"].as_str().expect("key").to_owned(), tokens)
}

impl OriginalDatabase {
    /// An empty database with the original's schema.
    pub async fn new() -> Self {
        let db = TestDatabase::empty().await;
        sqlx::raw_sql(SCHEMA)
            .execute(db.pool())
            .await
            .expect("the original's schema applies");
        Self { db }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    /// A user as `/auth/register` (or Google sign-in, with an empty hash) made it.
    pub async fn user(&self, id: &str, email: &str, hash: &str, name: Option<&str>) {
        sqlx::query(
            r#"insert into "User" (id, email, "passwordHash", name, "createdAt", "updatedAt")
               values ($1, $2, $3, $4, now() - interval '90 days', now())"#,
        )
        .bind(id)
        .bind(email)
        .bind(hash)
        .bind(name)
        .execute(self.pool())
        .await
        .expect("a user is inserted");
    }

    /// A subscription as the original's webhook wrote it, with the customer id also on
    /// the user, as its checkout stored it.
    pub async fn subscription(&self, s: &OriginalSub<'_>) {
        sqlx::query(r#"update "User" set "stripeCustomerId" = $2 where id = $1"#)
            .bind(s.user)
            .bind(s.customer)
            .execute(self.pool())
            .await
            .expect("the customer id is set");
        sqlx::query(
            r#"insert into "Subscription" (id, "userId", "stripeCustomerId", "stripeSubscriptionId",
                   "stripePriceId", status, plan, "instanceLimit", "currentPeriodStart",
                   "currentPeriodEnd", "cancelAtPeriodEnd", "createdAt", "updatedAt")
               values ($1, $2, $3, $4, $5, $6, $7, $8, now() - interval '10 days',
                   now() + interval '20 days', $9, now() - interval '40 days', now())"#,
        )
        .bind(s.id)
        .bind(s.user)
        .bind(s.customer)
        .bind(s.stripe_id)
        .bind(s.price)
        .bind(s.status)
        .bind(s.plan)
        .bind(s.limit)
        .bind(s.cancel_at_period_end)
        .execute(self.pool())
        .await
        .expect("a subscription is inserted");
    }

    /// An instance row.
    pub async fn instance(&self, i: &OriginalRow<'_>) {
        sqlx::query(
            r#"insert into "Instance" (id, "userId", name, provider, "flyMachineId", "flyAppName",
                   status, "telegramBotToken", "aiModel", region, "ipAddress", "createdAt", "updatedAt")
               values ($1, $2, $3, 'fly', $4, $5, $6, $7, $8, $9, $10, now() - interval '30 days', now())"#,
        )
        .bind(i.id)
        .bind(i.user)
        .bind(i.name)
        .bind(i.machine)
        .bind(i.app)
        .bind(i.status)
        .bind(i.token)
        .bind(i.model)
        .bind(i.region)
        .bind(i.machine.map(|_| "fdaa:0:1:a7b:1::2"))
        .execute(self.pool())
        .await
        .expect("an instance is inserted");
    }
}

/// A row of the original's `Subscription`.
pub struct OriginalSub<'a> {
    /// cuid.
    pub id: &'a str,
    /// The user's cuid.
    pub user: &'a str,
    /// Stripe customer.
    pub customer: &'a str,
    /// Stripe subscription.
    pub stripe_id: &'a str,
    /// Stripe price.
    pub price: Option<&'a str>,
    /// Upper-cased Stripe status.
    pub status: &'a str,
    /// Plan.
    pub plan: Option<&'a str>,
    /// Instance limit as stored.
    pub limit: i32,
    /// Cancels at the period's end.
    pub cancel_at_period_end: bool,
}

/// A row of the original's `Instance`.
pub struct OriginalRow<'a> {
    /// cuid.
    pub id: &'a str,
    /// Owner's cuid.
    pub user: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Status.
    pub status: &'a str,
    /// Fly app.
    pub app: Option<&'a str>,
    /// Fly machine.
    pub machine: Option<&'a str>,
    /// Token as stored.
    pub token: Option<&'a str>,
    /// Model.
    pub model: &'a str,
    /// Region.
    pub region: &'a str,
}

/// Fly.io as the original's code drove it, over the real API of the simulator.
pub struct OriginalFly {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl OriginalFly {
    /// The original's calls against the simulator at `base`.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{base}/v1"),
            token: token.to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the Fly simulator answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `createApp`: the app, in the `personal` organization.
    pub async fn create_app(&self, app: &str) {
        self.call(
            reqwest::Method::POST,
            "apps",
            Some(json!({ "app_name": app, "org_slug": "personal" })),
        )
        .await;
    }

    /// `createMachine` with the original's config: secrets in env, its services.
    /// Returns the machine id.
    pub async fn create_machine(
        &self,
        app: &str,
        region: &str,
        token: &str,
        model: &str,
    ) -> String {
        let (provider, key_name, key) = if model.starts_with("claude-") {
            ("anthropic", "ANTHROPIC_API_KEY", ORIGINAL_ANTHROPIC_KEY)
        } else {
            ("openai", "OPENAI_API_KEY", ORIGINAL_OPENAI_KEY)
        };
        let machine = self
            .call(
                reqwest::Method::POST,
                &format!("apps/{app}/machines"),
                Some(json!({
                    "name": format!("{app}-machine"),
                    "region": region,
                    "config": {
                        "image": IMAGE,
                        "env": {
                            "TELEGRAM_BOT_TOKEN": token,
                            key_name: key,
                            "AI_MODEL": model,
                            "AI_PROVIDER": provider,
                        },
                        "services": [{
                            "protocol": "tcp",
                            "internal_port": 8080,
                            "ports": [
                                { "port": 80, "handlers": ["http"] },
                                { "port": 443, "handlers": ["tls", "http"] },
                            ],
                        }],
                    },
                })),
            )
            .await;
        machine["id"].as_str().expect("a machine id").to_owned()
    }

    /// `stopMachine`, then waits (as the original never did) until it is stopped.
    pub async fn stop_machine(&self, app: &str, id: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("apps/{app}/machines/{id}/stop"),
            None,
        )
        .await;
        self.wait(app, id, "stopped").await;
    }

    /// Waits until the machine is in `state`.
    pub async fn wait(&self, app: &str, id: &str, state: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let machine = self
                .call(
                    reqwest::Method::GET,
                    &format!("apps/{app}/machines/{id}"),
                    None,
                )
                .await;
            if machine["state"] == state {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "machine {id} did not reach {state}: {machine}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
