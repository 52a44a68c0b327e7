//! What the internet can send the facade and not get: its memory exhausted by password
//! hashing, rate limits dodged with a forged `X-Forwarded-For`, a session from a token
//! that is not one, connections held open for nothing, a phantom instance counted
//! against a plan, or a request smuggled into Telegram's URL.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

use fasterclaw::api::contract::CreateInstanceRequest;
use fasterclaw::db::ImportedUser;
use fasterclaw::domain::{LegacyKind, imported_id};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{sign_up, telegram};
use crate::support::stack::{FacadeProcess, JWT_SECRET, Stack, TOKEN, stop};

/// The session secret the original system used, given as `LEGACY_API_JWT_SECRET`.
const OLD_SECRET: &str = "old-short-secret";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Registers an account over HTTP; returns its session token.
async fn register(http: &reqwest::Client, facade: &FacadeProcess) -> String {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let answer: Value = http
        .post(format!("{}/auth/register", facade.url))
        .json(&json!({ "email": email, "password": "a good password", "name": "Ada" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_owned()
}

/// A status, and whether a refusal said when to come back.
async fn status_of(response: reqwest::Result<reqwest::Response>) -> u16 {
    let response = response.expect("the facade answers");
    let status = response.status().as_u16();
    if matches!(status, 429 | 503) {
        assert!(
            response.headers().contains_key("retry-after"),
            "{status} without Retry-After"
        );
    }
    status
}

/// The facade's documented bound on its peak memory: 96 MiB, and 24 MiB per
/// concurrent password hash (see the README).
fn rss_bound_kib(concurrency: u64) -> u64 {
    (96 + 24 * concurrency) * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_keeps_the_facade_within_its_memory_bound() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack
        .api(
            &telegram.base_url(),
            &[
                ("PASSWORD_HASH_CONCURRENCY", "2"),
                ("AUTH_RATE_PER_ADDRESS", "10000"),
                ("AUTH_RATE_PER_ACCOUNT", "10000"),
            ],
        )
        .await;
    let started = facade.peak_rss_kib();
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(register(&http, &facade).await);
    }
    let before = facade.peak_rss_kib();

    // 100 password changes at once (each checks the current password: a full hash),
    // and 100 sign-ins of emails nobody has (which cost the same).
    let changes = (0..100).map(|n| {
        http.patch(format!("{}/auth/password", facade.url))
            .bearer_auth(&tokens[n % tokens.len()])
            .json(&json!({ "currentPassword": "not the password", "newPassword": "a newer password" }))
            .send()
    });
    let sign_ins = (0..100).map(|n| {
        http.post(format!("{}/auth/login", facade.url))
            .json(&json!({ "email": format!("nobody{n}@example.com"), "password": "whatever1" }))
            .send()
    });
    let (changes, sign_ins) = tokio::join!(
        futures::future::join_all(changes),
        futures::future::join_all(sign_ins)
    );
    let mut statuses = std::collections::BTreeMap::new();
    for response in changes.into_iter().chain(sign_ins) {
        *statuses
            .entry(status_of(Ok(response.unwrap())).await)
            .or_insert(0) += 1;
    }
    assert!(
        statuses.keys().all(|s| matches!(s, 401 | 503)),
        "{statuses:?}"
    );
    let peak = facade.peak_rss_kib();
    println!(
        "facade peak RSS: {} MiB started, {} MiB before, {} MiB after 200 concurrent checks ({statuses:?}); bound {} MiB",
        started / 1024,
        before / 1024,
        peak / 1024,
        rss_bound_kib(2) / 1024
    );
    assert!(
        peak < rss_bound_kib(2),
        "peak RSS {peak} KiB over the bound {} KiB",
        rss_bound_kib(2)
    );
    // The facade still serves.
    assert_eq!(
        status_of(
            http.get(format!("{}/auth/me", facade.url))
                .bearer_auth(&tokens[0])
                .send()
                .await
        )
        .await,
        200
    );
}

async fn sign_in_from(http: &reqwest::Client, facade: &FacadeProcess, forwarded: &str) -> u16 {
    let response = http
        .post(format!("{}/auth/login", facade.url))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "email": "nobody@example.com", "password": "whatever1" }))
        .send()
        .await;
    status_of(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_key_the_client_the_trusted_proxies_name() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let limits = [
        ("AUTH_RATE_PER_ADDRESS", "5"),
        ("AUTH_RATE_PER_ACCOUNT", "10000"),
    ];
    // Behind a proxy (the test, on 127.0.0.1) that appends the address it saw.
    let proxied = stack
        .api(
            &telegram.base_url(),
            &[
                limits[0],
                limits[1],
                ("TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
            ],
        )
        .await;
    let http = reqwest::Client::new();
    let mut spoofed = Vec::new();
    let began = std::time::Instant::now();
    for n in 0..8 {
        // The client writes whatever it likes first; the proxy appends 198.51.100.7.
        let header = format!("10.9.{n}.{n}, 203.0.113.{n}, 198.51.100.7");
        spoofed.push(sign_in_from(&http, &proxied, &header).await);
    }
    assert_limited(
        &spoofed,
        began.elapsed(),
        "spoofed entries dodged the limit",
    );
    // Another client behind the same proxy has its own allowance.
    assert_eq!(sign_in_from(&http, &proxied, "198.51.100.8").await, 401);
    // IPv6 clients count by their /64.
    let mut ipv6 = Vec::new();
    let began = std::time::Instant::now();
    for n in 1..=6 {
        ipv6.push(sign_in_from(&http, &proxied, &format!("2001:db8:1:2::{n}")).await);
    }
    assert_limited(&ipv6, began.elapsed(), "a /64 dodged the limit");

    // Without trusted proxies the header is not read: the connection is the client.
    let direct = stack
        .api(&telegram.base_url(), &[limits[0], limits[1]])
        .await;
    let mut statuses = Vec::new();
    let began = std::time::Instant::now();
    for n in 0..6 {
        statuses.push(sign_in_from(&http, &direct, &format!("198.51.100.{n}")).await);
    }
    assert_limited(
        &statuses,
        began.elapsed(),
        "an untrusted header dodged the limit",
    );
}

/// Sign-ins from one client under `AUTH_RATE_PER_ADDRESS=5`: the first five are let
/// through (401: no such account) and the rest refused (429), but for the attempts the
/// allowance regained while they ran (one every 12 s) on a busy machine.
fn assert_limited(statuses: &[u16], elapsed: std::time::Duration, what: &str) {
    let regained = (elapsed.as_secs_f64() / 12.0) as usize;
    let through = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429)),
        "{statuses:?}"
    );
    assert!(
        through <= 5 + regained,
        "{what}: {statuses:?} in {elapsed:?}"
    );
}

/// Starts `fasterclaw api` with `extra` settings, expecting it to refuse to start;
/// returns what it printed.
fn refused_start(stack: &Stack, telegram: &str, extra: &[(&str, &str)]) -> String {
    let settings = [
        ("INSTANCE_NAMESPACE", stack.cluster.namespace.clone()),
        ("API_JWT_SECRET", JWT_SECRET.to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ("TELEGRAM_API_URL", telegram.to_owned()),
    ];
    let mut child: Child = stack
        .command("api", &settings, extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fasterclaw api starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(!status.success(), "it started");
            let mut printed = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut printed);
            }
            return printed;
        }
        if std::time::Instant::now() > deadline {
            stop(&mut child);
            panic!("fasterclaw api did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_this_facades_or_an_imported_accounts_own_from_before_its_import() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack
        .api(
            &telegram.base_url(),
            &[("LEGACY_API_JWT_SECRET", OLD_SECRET)],
        )
        .await;
    let http = reqwest::Client::new();
    let me = |token: String| {
        let request = http
            .get(format!("{}/auth/me", facade.url))
            .bearer_auth(token)
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };
    let (client, user) = sign_up(&facade.client()).await;
    drop(client);
    let claims = |sub: &str, iat: i64, exp: i64| json!({ "sub": sub, "email": user.email, "name": null, "iat": iat, "exp": exp });
    let id = user.id.to_string();
    // A token of the original's shape, for an account made here: with either secret,
    // it is not a session.
    assert_eq!(
        me(sign(JWT_SECRET, claims(&id, now() - 60, now() + 3600))).await,
        401
    );
    assert_eq!(
        me(sign(OLD_SECRET, claims(&id, now() - 60, now() + 3600))).await,
        401
    );
    // Nor is another token signed with the secret, with a token version but no issuer.
    let mut versioned = claims(&id, now() - 60, now() + 3600);
    versioned["tv"] = json!(0);
    assert_eq!(me(sign(JWT_SECRET, versioned)).await, 401);

    // An account imported from the original: its sessions from before the import count.
    let cuid = "climported000000000000001";
    stack
        .db
        .db
        .imports(&stack.keyring())
        .insert_user(ImportedUser {
            id: imported_id(LegacyKind::User, cuid),
            legacy_id: cuid,
            email: "imported@example.com",
            password_hash: None,
            name: Some("Imported"),
            created_at: chrono::Utc::now() - chrono::Duration::days(300),
        })
        .await
        .unwrap();
    let issued = now() - 3600;
    assert_eq!(
        me(sign(OLD_SECRET, claims(cuid, issued, issued + 6 * 86_400))).await,
        200
    );
    // ... but not one that lasts a year, or was issued after the import.
    assert_eq!(
        me(sign(
            OLD_SECRET,
            claims(cuid, issued, issued + 365 * 86_400)
        ))
        .await,
        401
    );
    assert_eq!(
        me(sign(OLD_SECRET, claims(cuid, now() + 120, now() + 86_400))).await,
        401
    );
    // An id the import never brought is no account.
    assert_eq!(
        me(sign(
            OLD_SECRET,
            claims("clnotimported00000000001", issued, issued + 3600)
        ))
        .await,
        401
    );

    // Seven days after the latest import every such session has expired: a facade
    // given the old secret then refuses to start, saying why.
    sqlx::query("update users set imported_at = now() - interval '8 days' where legacy_id = $1")
        .bind(cuid)
        .execute(stack.db.db.pool())
        .await
        .unwrap();
    let printed = refused_start(
        &stack,
        &telegram.base_url(),
        &[("LEGACY_API_JWT_SECRET", OLD_SECRET)],
    );
    assert!(
        printed.contains("LEGACY_API_JWT_SECRET is past its deadline"),
        "{printed}"
    );
    assert!(!printed.contains(OLD_SECRET), "the secret was printed");
    // The setting the facade no longer reads is named, not silently ignored.
    let printed = refused_start(
        &stack,
        &telegram.base_url(),
        &[("TRUST_FORWARDED_FOR", "true")],
    );
    assert!(printed.contains("TRUSTED_PROXIES"), "{printed}");
}

/// A connection that sent part of a request's headers.
fn half_request(facade: &FacadeProcess) -> TcpStream {
    let addr = facade.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("a connection");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: facade\r\n")
        .expect("half a request is sent");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let impatient = stack
        .api(&telegram.base_url(), &[("HEADER_READ_TIMEOUT", "1s")])
        .await;
    let closed = tokio::task::spawn_blocking({
        let mut stream = half_request(&impatient);
        move || {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut buffer = [0u8; 512];
            // The server ends the connection (an empty read, or a reset), or times out.
            match stream.read(&mut buffer) {
                Ok(n) => {
                    n == 0 || String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 408")
                }
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    })
    .await
    .unwrap();
    assert!(
        closed,
        "a connection that never finished its headers stayed open"
    );

    let capped = stack
        .api(
            &telegram.base_url(),
            &[("MAX_CONNECTIONS", "2"), ("HEADER_READ_TIMEOUT", "60s")],
        )
        .await;
    let held = [half_request(&capped), half_request(&capped)];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    let waiting = http
        .get(format!("{}/health", capped.url))
        .timeout(Duration::from_millis(1500))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a third connection was served: {waiting:?}"
    );
    drop(held);
    let served = http
        .get(format!("{}/health", capped.url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once the others closed");
    assert_eq!(served.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_a_tokens_shape_never_reaches_telegram() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (client, _) = sign_up(&facade.client()).await;
    let calls = telegram.calls();
    for token in [
        "123456789:AAH?offset=1",
        "123456789:AAH/../../bot1:x/getUpdates",
        "123456789:AAH%2F..%2FgetMe",
        "123456789:AAH#x",
    ] {
        let answer = client
            .validate_telegram_token(&serde_json::from_value(json!({ "token": token })).unwrap())
            .await
            .unwrap();
        assert!(!answer.valid, "{token}");
        assert_eq!(
            answer.error.as_deref(),
            Some("Invalid bot token"),
            "{token}"
        );
    }
    assert_eq!(
        telegram.calls(),
        calls,
        "a malformed token reached Telegram"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_gone_while_the_facade_was_away_stops_counting() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let (client, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "starter", 1).await;
    let request: CreateInstanceRequest =
        serde_json::from_value(json!({ "name": "Gone soon", "telegramBotToken": TOKEN })).unwrap();
    let created = client.create_instance(&request).await.unwrap();
    drop(facade);

    // While no facade watches, the Instance goes (no controller holds a finalizer).
    let name = format!("fc-{}", created.id);
    stack
        .instances()
        .delete(&name, &Default::default())
        .await
        .unwrap();
    stack.until_gone(&name, Duration::from_secs(30)).await;
    // Recorded long enough ago that it is not one on its way.
    sqlx::query("update instances set created_at = now() - interval '5 minutes' where id = $1")
        .bind(created.id)
        .execute(stack.db.db.pool())
        .await
        .unwrap();

    let facade = stack.api(&telegram.base_url(), &[]).await;
    let client = facade
        .client()
        .with_token(client.token().unwrap_or_default().to_owned());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let deleted: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("select deleted_at from instances where id = $1")
                .bind(created.id)
                .fetch_one(stack.db.db.pool())
                .await
                .unwrap();
        if deleted.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the record of the vanished Instance was never marked deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It no longer counts against the plan's one instance.
    let again: CreateInstanceRequest =
        serde_json::from_value(json!({ "name": "Its successor", "telegramBotToken": TOKEN }))
            .unwrap();
    client
        .create_instance(&again)
        .await
        .expect("room for a new instance");
}
