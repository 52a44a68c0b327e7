//! `fasterclaw import-original` at scale, as a process (release build): N accounts of
//! the original, each with a subscription and a stopped instance, imported into a fresh
//! FasterClaw database and the Kubernetes API simulator; then a second run that finds
//! everything imported. The baseline, measured in the same run, is the floor of what an
//! import must write: the same rows, one transaction each with its sealed secret and
//! audit line, and one Instance created per instance, written directly without reading
//! anything first.
//!
//! Run with `./scripts/bench import`. Size: `BENCH_ROWS` (default 2000).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fasterclaw::crd::Instance;
use fasterclaw::crypto::{EncryptionKey, Keyring};
use fasterclaw::db::SecretKind;
use fasterclaw_sim::kube::KubeSimConfig;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

mod support;

const ENCRYPTION_KEY: &str = "5f1d3a9c0b7e4d2f8a6c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a2c4e6b8d0f";
const TOKEN: &str = "7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e";
const SCHEMA: &str = include_str!("../tests/fixtures/original/schema.sql");

fn main() {
    support::main(|runtime| runtime.block_on(run()));
}

async fn run() {
    let rows: u32 = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let suffix = std::process::id();
    let source = support::database(&format!("fasterclaw_bench_source_{suffix}"), false).await;
    let target = support::database(&format!("fasterclaw_bench_import_{suffix}"), true).await;
    let floor = support::database(&format!("fasterclaw_bench_floor_{suffix}"), true).await;
    sqlx::raw_sql(SCHEMA)
        .execute(&source.1)
        .await
        .expect("the original's schema");
    seed(&source.1, rows).await;
    let rig = support::kube_rig(KubeSimConfig::default()).await;

    let import = |target_url: &str| {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
            .arg("import-original")
            .env_clear()
            .env("KUBECONFIG", &rig.kubeconfig)
            .env("DATABASE_URL", target_url)
            .env("SOURCE_DATABASE_URL", &source.0)
            .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("INSTANCE_NAMESPACE", "default")
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("fasterclaw import-original runs");
        assert!(status.success(), "the import failed: {status}");
        started.elapsed()
    };
    let first = import(&target.0);
    let second = import(&target.0);
    let instances: Api<Instance> = Api::namespaced(rig.client.clone(), "default");
    let made = instances
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    assert_eq!(made, rows as usize, "every instance has its Instance");

    let floor_time = write_floor(&floor.1, &rig.client, rows).await;

    let per_row = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(rows);
    println!("import-original, {rows} accounts each with a subscription and an instance:");
    println!(
        "  first run:   {:>7.2} s  ({:.2} ms per account, {:.0} accounts/s)",
        first.as_secs_f64(),
        per_row(first),
        f64::from(rows) / first.as_secs_f64()
    );
    println!(
        "  second run:  {:>7.2} s  ({:.2} ms per account; nothing to write)",
        second.as_secs_f64(),
        per_row(second)
    );
    println!(
        "  floor:       {:>7.2} s  ({:.2} ms per account: the same writes, no reads)",
        floor_time.as_secs_f64(),
        per_row(floor_time)
    );
    println!(
        "  ratio first run / floor: {:.2}x",
        first.as_secs_f64() / floor_time.as_secs_f64()
    );

    for (url, pool) in [source, target, floor] {
        pool.close().await;
        support::drop_database(&url).await;
    }
}

/// `rows` accounts, each with an ACTIVE subscription and a STOPPED instance whose token
/// is in plaintext, as the original stored them.
async fn seed(pool: &PgPool, rows: u32) {
    let statements = [
        r#"insert into "User" (id, email, "passwordHash", name, "createdAt", "updatedAt")
           select 'clbench' || lpad(n::text, 18, '0'), 'user' || n || '@example.com',
                  '$2a$12$Vb3iCEPK7wVGX2lw3TjEdee5UYMP.AuQ1eFWb9jIkt3my86Rum3jS', 'User ' || n,
                  now(), now()
           from generate_series(1, $1) n"#,
        r#"insert into "Subscription" (id, "userId", "stripeCustomerId", "stripeSubscriptionId",
               "stripePriceId", status, plan, "instanceLimit", "currentPeriodStart",
               "currentPeriodEnd", "cancelAtPeriodEnd", "createdAt", "updatedAt")
           select 'clsub' || lpad(n::text, 20, '0'), 'clbench' || lpad(n::text, 18, '0'),
                  'cus_' || n, 'sub_' || n, 'price_pro', 'ACTIVE', 'pro', 10, now(),
                  now() + interval '30 days', false, now(), now()
           from generate_series(1, $1) n"#,
        r#"insert into "Instance" (id, "userId", name, provider, "flyMachineId", "flyAppName",
               status, "telegramBotToken", "aiModel", region, "createdAt", "updatedAt")
           select 'clinst' || lpad(n::text, 19, '0'), 'clbench' || lpad(n::text, 18, '0'),
                  'Bot ' || n, 'fly', 'm' || n, 'openclaw-clbench0-' || (1732000000000 + n),
                  'STOPPED', $2, 'claude-sonnet-4-0', 'lax', now(), now()
           from generate_series(1, $1) n"#,
    ];
    for (i, statement) in statements.into_iter().enumerate() {
        let mut query = sqlx::query(statement).bind(rows as i32);
        if i == 2 {
            query = query.bind(TOKEN);
        }
        query.execute(pool).await.expect("the original's rows");
    }
}

/// The same rows and Instances written directly: the least an import has to do.
async fn write_floor(pool: &PgPool, client: &kube::Client, rows: u32) -> Duration {
    let keyring = Keyring::new(
        EncryptionKey::from_hex(ENCRYPTION_KEY, "ENCRYPTION_KEY").expect("a valid key"),
    );
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::erase::<Instance>(&()),
    );
    let started = Instant::now();
    for n in 1..=rows {
        let user = Uuid::new_v4();
        let mut tx = pool.begin().await.expect("a transaction");
        sqlx::query("insert into users (id, legacy_id, email, password_hash, name) values ($1, $2, $3, $4, $5)")
            .bind(user)
            .bind(format!("clbench{n:018}"))
            .bind(format!("user{n}@example.com"))
            .bind("$2a$12$Vb3iCEPK7wVGX2lw3TjEdee5UYMP.AuQ1eFWb9jIkt3my86Rum3jS")
            .bind(format!("User {n}"))
            .execute(&mut *tx)
            .await
            .expect("a user");
        audit(&mut tx, "user.import", user).await;
        tx.commit().await.expect("commit");

        let mut tx = pool.begin().await.expect("a transaction");
        sqlx::query(
            "insert into subscriptions (user_id, stripe_subscription_id, stripe_price_id, status,
                 plan, instance_limit, current_period_end)
             values ($1, $2, 'price_pro', 'ACTIVE', 'pro', 10, now() + interval '30 days')",
        )
        .bind(user)
        .bind(format!("sub_{n}"))
        .execute(&mut *tx)
        .await
        .expect("a subscription");
        seal(
            &mut tx,
            &keyring,
            SecretKind::StripeCustomerId,
            user,
            None,
            &format!("cus_{n}"),
        )
        .await;
        audit(&mut tx, "subscription.import", user).await;
        tx.commit().await.expect("commit");

        let instance = Uuid::new_v4();
        let name = format!("fc-floor-{instance}");
        let mut tx = pool.begin().await.expect("a transaction");
        sqlx::query(
            "insert into instances (id, owner_id, namespace, name, display_name, token_mask)
             values ($1, $2, 'default', $3, $4, '7123456789...bC3e')",
        )
        .bind(instance)
        .bind(user)
        .bind(&name)
        .bind(format!("Bot {n}"))
        .execute(&mut *tx)
        .await
        .expect("an instance");
        let secret = seal(
            &mut tx,
            &keyring,
            SecretKind::TelegramBotToken,
            user,
            Some(instance),
            TOKEN,
        )
        .await;
        audit(&mut tx, "instance.import", instance).await;
        tx.commit().await.expect("commit");
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "fasterclaw.io/v1alpha1", "kind": "Instance",
            "metadata": { "name": name, "labels": { "fasterclaw.io/instance-id": instance.to_string() } },
            "spec": { "displayName": format!("Bot {n}"), "ownerId": user.to_string(), "powerState": "Stopped",
                      "telegramToken": { "storedSecretId": secret },
                      "adopt": { "appName": format!("openclaw-clbench0-{}", 1_732_000_000_000u64 + u64::from(n)), "machineId": format!("m{n}") } }
        }))
        .expect("an Instance");
        api.create(&PostParams::default(), &object)
            .await
            .expect("the Instance");
    }
    started.elapsed()
}

async fn audit(conn: &mut PgConnection, action: &str, target: Uuid) {
    sqlx::query(
        "insert into audit_log (actor, action, target, details) values ('bench', $1, $2, '{}')",
    )
    .bind(action)
    .bind(target.to_string())
    .execute(conn)
    .await
    .expect("an audit line");
}

async fn seal(
    conn: &mut PgConnection,
    keyring: &Keyring,
    kind: SecretKind,
    owner: Uuid,
    instance: Option<Uuid>,
    value: &str,
) -> Uuid {
    let id = Uuid::new_v4();
    let sealed = keyring.seal(
        value,
        &kind.aad(
            id,
            instance.filter(|_| kind == SecretKind::TelegramBotToken),
        ),
    );
    sqlx::query(
        "insert into sealed_secrets (id, kind, owner_id, instance_id, sealed) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(owner)
    .bind(instance)
    .bind(sealed)
    .execute(conn)
    .await
    .expect("a sealed secret");
    id
}
