//! Accounts: sign-up and sign-in, the original's bcrypt hashes, sessions that end with
//! a password change or the account, readable validation errors, and rate limits.

use std::time::Duration;

use fasterclaw::api::contract::{
    DeleteAccountRequest, LoginRequest, UpdatePasswordRequest, UpdateProfileRequest,
};
use fasterclaw::domain::EmailAddress;
use serde_json::{Value, json};

use super::{sign_up, telegram};
use crate::support::stack::Stack;

fn password(text: &str) -> DeleteAccountRequest {
    serde_json::from_value(json!({ "password": text })).unwrap()
}

fn login(email: &str, password: &str) -> LoginRequest {
    serde_json::from_value(json!({ "email": email, "password": password })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_register_sign_in_change_and_end_their_sessions() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let anonymous = facade.client();
    let (signed_in, user) = sign_up(&anonymous).await;
    assert_eq!(signed_in.me().await.unwrap(), user);

    // Without GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, sign-in with Google is not
    // served.
    for path in ["/auth/google", "/auth/google/callback?code=x&state=y"] {
        let response = reqwest::get(format!("{}{path}", facade.url)).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    // The same email in another case is the same account.
    let again = anonymous
        .register(&serde_json::from_value(json!({ "email": user.email.to_uppercase(), "password": "another password", "name": "Eve" })).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (again.status(), again.to_string().as_str()),
        (Some(409), "409: User already exists")
    );

    let wrong = anonymous
        .login(&login(&user.email, "not the password"))
        .await
        .unwrap_err();
    assert_eq!(wrong.to_string(), "401: Invalid credentials");
    let unknown = anonymous
        .login(&login("nobody@example.com", "whatever1"))
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "401: Invalid credentials");
    let session = anonymous
        .login(&login(&user.email.to_uppercase(), "a good password"))
        .await
        .unwrap();
    assert_eq!(session.user.id, user.id);

    let renamed = signed_in
        .update_profile(
            &serde_json::from_value::<UpdateProfileRequest>(json!({ "name": "Ada Lovelace" }))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Ada Lovelace"));

    // A password change ends the sessions issued before it.
    let change: UpdatePasswordRequest = serde_json::from_value(
        json!({ "currentPassword": "wrong password", "newPassword": "a newer password" }),
    )
    .unwrap();
    assert_eq!(
        signed_in
            .update_password(&change)
            .await
            .unwrap_err()
            .to_string(),
        "401: Current password is incorrect"
    );
    let change: UpdatePasswordRequest = serde_json::from_value(
        json!({ "currentPassword": "a good password", "newPassword": "a newer password" }),
    )
    .unwrap();
    assert_eq!(
        signed_in.update_password(&change).await.unwrap().message,
        "Password updated successfully"
    );
    assert_eq!(
        signed_in.me().await.unwrap_err().status(),
        Some(401),
        "the old session is over"
    );
    let fresh = anonymous
        .login(&login(&user.email, "a newer password"))
        .await
        .unwrap();
    let fresh = anonymous.with_token(fresh.access_token);
    assert_eq!(fresh.me().await.unwrap().id, user.id);

    // Deleting the account ends its sessions at once.
    assert_eq!(
        fresh
            .delete_account(&password("a newer password"))
            .await
            .unwrap()
            .message,
        "Account deleted successfully"
    );
    assert_eq!(
        fresh.me().await.unwrap_err().to_string(),
        "401: Unauthorized"
    );
    assert!(stack.db.db.users().find(user.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_bcryptjs_hashes_sign_in_and_are_upgraded() {
    let stack = Stack::new().await;
    let fixture: Value =
        serde_json::from_str(include_str!("../../fixtures/bcryptjs-hashes.json")).unwrap();
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    for (n, entry) in fixture["hashes"].as_array().unwrap().iter().enumerate() {
        let email = format!("legacy{n}@example.com");
        let hash = entry["hash"].as_str().unwrap();
        let password = entry["password"].as_str().unwrap();
        let user = stack
            .db
            .db
            .users()
            .create(
                &EmailAddress::parse(&email).unwrap(),
                Some(hash),
                Some("Legacy"),
            )
            .await
            .unwrap();
        let session = facade
            .client()
            .login(&login(&email, password))
            .await
            .unwrap();
        assert_eq!(session.user.id, user.id);
        let stored = stack
            .db
            .db
            .users()
            .find(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "upgraded: {stored}");
        // And the upgraded hash signs in too.
        facade
            .client()
            .login(&login(&email, password))
            .await
            .unwrap();
        assert_eq!(
            facade
                .client()
                .login(&login(&email, "wrong password"))
                .await
                .unwrap_err()
                .status(),
            Some(401)
        );
    }
    // A Google-only account has no password to sign in with.
    stack
        .db
        .db
        .users()
        .create(
            &EmailAddress::parse("google@example.com").unwrap(),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        facade
            .client()
            .login(&login("google@example.com", ""))
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address_and_per_account() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack
        .api(
            &telegram.base_url(),
            &[
                ("AUTH_RATE_PER_ACCOUNT", "3"),
                ("AUTH_RATE_PER_ADDRESS", "6"),
            ],
        )
        .await;
    let (_, user) = sign_up(&facade.client()).await;
    let http = reqwest::Client::new();
    let attempt = |email: String| {
        let http = http.clone();
        let url = format!("{}/auth/login", facade.url);
        async move {
            http.post(url)
                .json(&json!({ "email": email, "password": "wrong password" }))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt(user.email.clone()).await.status(), 401);
    }
    let limited = attempt(user.email.clone()).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many attempts")
    );
    // Per address: the sign-up and four sign-ins so far; the sixth attempt is the last.
    assert_eq!(attempt("other@example.com".to_owned()).await.status(), 401);
    assert_eq!(attempt("third@example.com".to_owned()).await.status(), 429);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facade_refuses_to_start_with_a_missing_or_malformed_setting() {
    let stack = Stack::new().await;
    let good_secret = crate::support::stack::JWT_SECRET;
    for (settings, expected) in [
        (vec![("API_JWT_SECRET", "")], "API_JWT_SECRET is not set"),
        (
            vec![("API_JWT_SECRET", "short")],
            "API_JWT_SECRET must be at least 32 bytes",
        ),
        (
            vec![
                ("API_JWT_SECRET", good_secret),
                ("STRIPE_SECRET_KEY", "pk_test_123"),
            ],
            "STRIPE_SECRET_KEY must be a Stripe secret key (sk_... or rk_...)",
        ),
        (
            vec![
                ("API_JWT_SECRET", good_secret),
                ("STRIPE_WEBHOOK_SECRET", "secret"),
            ],
            "STRIPE_WEBHOOK_SECRET must be an endpoint signing secret (whsec_...)",
        ),
        (
            vec![
                ("API_JWT_SECRET", good_secret),
                ("STRIPE_PRICE_ID_PRO", "price 1"),
            ],
            "STRIPE_PRICE_ID_PRO must be a Stripe price id",
        ),
        (
            vec![
                ("API_JWT_SECRET", good_secret),
                ("STRIPE_SECRET_KEY", "sk_test_1"),
                ("STRIPE_API_URL", "ftp://stripe"),
            ],
            "STRIPE_API_URL must be an http:// or https:// URL",
        ),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fasterclaw"));
        command
            .arg("api")
            .env_clear()
            .env("DATABASE_URL", &stack.db.url)
            .env("ENCRYPTION_KEY", crate::support::stack::ENCRYPTION_KEY)
            .env("LOG_LEVEL", "off");
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        for (key, value) in &settings {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn a_dotenv_file_is_read_and_the_environment_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fasterclaw"));
        command
            .arg("api")
            .current_dir(dir.path())
            .env_clear()
            .env("LOG_LEVEL", "off");
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    std::fs::write(
        dir.path().join(".env"),
        "# a local run\nAPI_JWT_SECRET=short\nDATABASE_URL=postgres://nowhere/db\n",
    )
    .unwrap();
    // From the file...
    assert!(run(&[]).contains("API_JWT_SECRET must be at least 32 bytes"));
    // ...unless the environment says otherwise.
    assert!(run(&[("API_JWT_SECRET", "")]).contains("API_JWT_SECRET is not set"));
    // A file that does not parse is named, in one line.
    std::fs::write(dir.path().join(".env"), "API_JWT_SECRET='unterminated\n").unwrap();
    let refused = run(&[]);
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert!(
        refused.starts_with("fasterclaw: .env: line 1 does not parse"),
        "{refused}"
    );
    assert!(
        !refused.contains("unterminated"),
        "the line's value is not shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_account_deletes_its_instances_and_their_fly_apps() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let _controller = stack.controller(&[]);
    let (owner, user) = sign_up(&facade.client()).await;
    let (neighbour, other) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    stack.subscribe(other.id, "pro", 10).await;
    let token = crate::support::stack::TOKEN;
    let request = |name: &str| {
        serde_json::from_value(json!({ "name": name, "telegramBotToken": token })).unwrap()
    };
    let mut mine = Vec::new();
    for name in ["One", "Two"] {
        mine.push(owner.create_instance(&request(name)).await.unwrap());
    }
    let kept = neighbour
        .create_instance(&request("Neighbour"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stack.fly.app_names().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the instances did not reach Fly.io"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    owner
        .delete_account(&password("a good password"))
        .await
        .unwrap();
    assert_eq!(owner.me().await.unwrap_err().status(), Some(401));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stack.fly.app_names().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "apps left: {:?}",
            stack.fly.app_names()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for instance in &mine {
        let name = format!("fc-{}", instance.id);
        stack.until_gone(&name, Duration::from_secs(30)).await;
    }
    assert_eq!(
        neighbour
            .get_instance(&kept.id.to_string())
            .await
            .unwrap()
            .name,
        "Neighbour"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_refusal_of_the_account_and_token_routes() {
    let stack = Stack::new().await;
    let telegram = telegram().await;
    let facade = stack.api(&telegram.base_url(), &[]).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value, token: Option<String>| {
        let mut request = http.post(format!("{}{path}", facade.url)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // Validation: which field, and why.
    let (status, body) = post(
        "/auth/register",
        json!({ "email": "not-an-email", "password": "long enough", "name": "A" }),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "email: Invalid email address")
    );
    let (status, body) = post(
        "/auth/register",
        json!({ "email": "a@example.com", "password": "short", "name": "A" }),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("password: "),
        "{body}"
    );
    assert_eq!(body["details"].as_array().unwrap().len(), 1);
    let (status, body) = post("/auth/login", json!({ "email": "a@example.com" }), None).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "password: Required")
    );

    let (signed_in, _) = sign_up(&facade.client()).await;
    let token = signed_in.token().map(str::to_owned);
    let (status, body) = post(
        "/instances/validate-telegram-token",
        json!({ "token": "" }),
        token.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "token: Token is required")
    );
    let refused = signed_in
        .update_profile(&serde_json::from_value(json!({ "name": "A" })).unwrap())
        .await
        .map(|u| u.name);
    assert_eq!(refused.unwrap().as_deref(), Some("A"));
    let response = http
        .patch(format!("{}/auth/profile", facade.url))
        .bearer_auth(token.clone().unwrap())
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // An account that signs in with Google has no password to change.
    let google = stack
        .db
        .db
        .users()
        .create(
            &EmailAddress::parse("g@example.com").unwrap(),
            None,
            Some("G"),
        )
        .await
        .unwrap();
    let sessions = fasterclaw::api::server::session::Sessions::new(Some(
        &secrecy::SecretString::from(crate::support::stack::JWT_SECRET.to_owned()),
    ))
    .unwrap();
    let google_token = sessions.issue(&google.id.to_string(), &google.email, None, 0);
    let change: UpdatePasswordRequest = serde_json::from_value(
        json!({ "currentPassword": "anything", "newPassword": "a new password" }),
    )
    .unwrap();
    let refused = facade
        .client()
        .with_token(google_token)
        .update_password(&change)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "400: Password change not available for this account"
    );
}
