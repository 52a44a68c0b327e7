//! Sign-in with Google through the real facade and the Google stand-in, the way a
//! browser goes: `/auth/google`, Google's authorization page, the callback with the
//! state cookie, and the landing on the web app. Accounts are created, found again,
//! and linked by verified email only; a forged state, a spent state, a reused code, a
//! refusal at Google and a missing cookie all land on the web app's error page.

use std::time::Duration;

use fasterclaw::api::client::ApiClient;
use fasterclaw::api::contract::DeleteAccountRequest;
use fasterclaw_sim::google::{GoogleSim, GoogleSimConfig, GoogleUser};
use reqwest::header;
use serde_json::json;

use super::{sign_up, telegram};
use crate::support::stack::{FacadeProcess, JWT_SECRET, Stack};

const CLIENT_ID: &str = "1234567890-test.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-test-client-secret-0123456789";
const FAILED: &str = "https://app.example.com/sign-in?error=oauth_failed";
const LANDING: &str = "https://app.example.com/auth/callback?token=";

/// A browser without automatic redirects: each hop is looked at.
fn browser() -> reqwest::Client {
    fasterclaw::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "{:?}", response.headers());
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A sign-in started at the facade and granted at Google: the callback URL Google
/// sends the browser to, and the state cookie the facade set.
struct Granted {
    callback: String,
    cookie: String,
}

impl Granted {
    fn param(&self, name: &str) -> String {
        url::Url::parse(&self.callback)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    /// The callback URL with `name` set to `value`.
    fn with(&self, name: &str, value: &str) -> String {
        let mut url = url::Url::parse(&self.callback).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(n, v)| {
                let v = if n == name {
                    value.to_owned()
                } else {
                    v.into_owned()
                };
                (n.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url.into()
    }
}

/// Opens `/auth/google` (at `localhost`, where Google sends the browser back) and
/// follows the redirect to Google, which grants at once.
async fn start(http: &reqwest::Client, facade: &FacadeProcess) -> Granted {
    let start = facade.url.replace("127.0.0.1", "localhost") + "/auth/google";
    let started = http.get(&start).send().await.unwrap();
    let to_google = location(&started);
    let set_cookie = started.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth/google",
        "Max-Age=600",
    ] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let authorization = url::Url::parse(&to_google).unwrap();
    let asked: Vec<(String, String)> = authorization.query_pairs().into_owned().collect();
    let asked = |name: &str| {
        asked
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(asked("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(asked("scope").as_deref(), Some("openid email profile"));
    assert!(asked("nonce").is_some_and(|n| n.len() >= 16));
    assert_eq!(
        Some(cookie.split_once('=').unwrap().1.to_owned()),
        asked("state")
    );
    let granted = http.get(to_google).send().await.unwrap();
    Granted {
        callback: location(&granted),
        cookie,
    }
}

/// The browser's call of `callback` with `cookie`; where it lands.
async fn finish(http: &reqwest::Client, callback: &str, cookie: Option<&str>) -> String {
    let mut request = http.get(callback);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let clears = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("Max-Age=0"));
    assert!(clears, "the callback spends the state cookie");
    location(&response)
}

/// A whole sign-in; where it lands.
async fn sign_in(http: &reqwest::Client, facade: &FacadeProcess) -> String {
    let granted = start(http, facade).await;
    finish(http, &granted.callback, Some(&granted.cookie)).await
}

fn session(facade: &FacadeProcess, landing: &str) -> ApiClient {
    let token = landing
        .strip_prefix(LANDING)
        .unwrap_or_else(|| panic!("not signed in: {landing}"));
    facade.client().with_token(token.to_owned())
}

async fn google_facade(stack: &Stack, google: &GoogleSim) -> FacadeProcess {
    let telegram = telegram().await;
    let issuer = google.issuer();
    stack
        .api(
            &telegram.base_url(),
            &[
                ("APP_ENV", "development"),
                ("GOOGLE_CLIENT_ID", CLIENT_ID),
                ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
                ("GOOGLE_ISSUER_URL", &issuer),
            ],
        )
        .await
}

async fn google() -> GoogleSim {
    GoogleSim::start(
        GoogleSimConfig::new(CLIENT_ID, CLIENT_SECRET),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("the Google stand-in starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_sign_in_creates_finds_and_links_accounts() {
    let stack = Stack::new().await;
    let google = google().await;
    let facade = google_facade(&stack, &google).await;
    let http = browser();

    // A first sign-in creates the account, without a password.
    google.add_user(GoogleUser::verified(
        "110000000000000000001",
        "grace@example.com",
        "Grace Hopper",
    ));
    google.sign_in_as("110000000000000000001");
    let first = sign_in(&http, &facade).await;
    let grace = session(&facade, &first).me().await.unwrap();
    assert_eq!(
        (grace.email.as_str(), grace.name.as_deref()),
        ("grace@example.com", Some("Grace Hopper"))
    );
    let password_login = facade
        .client()
        .login(
            &serde_json::from_value(json!({ "email": "grace@example.com", "password": "" }))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(password_login.status(), Some(401));

    // The second finds it.
    let second = sign_in(&http, &facade).await;
    assert_eq!(session(&facade, &second).me().await.unwrap().id, grace.id);

    // A password account with the same email (in another case) is linked only when
    // Google says the email is verified.
    let (owner, ada) = sign_up(&facade.client()).await;
    google.add_user(
        GoogleUser::verified("110000000000000000002", &ada.email.to_uppercase(), "Ada")
            .with_email_verified(false),
    );
    google.sign_in_as("110000000000000000002");
    assert_eq!(sign_in(&http, &facade).await, FAILED);
    let lines = stack
        .db
        .db
        .audit()
        .for_target(&format!("user:{}", ada.id))
        .await
        .unwrap();
    assert!(
        lines.iter().all(|l| l.action != "user.link_google"),
        "{lines:?}"
    );
    google.add_user(GoogleUser::verified(
        "110000000000000000002",
        &ada.email.to_uppercase(),
        "Ada",
    ));
    let linked = sign_in(&http, &facade).await;
    assert_eq!(session(&facade, &linked).me().await.unwrap().id, ada.id);
    assert!(owner.me().await.is_ok(), "the password session goes on");
    let actions: Vec<String> = stack
        .db
        .db
        .audit()
        .for_target(&format!("user:{}", ada.id))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.action)
        .collect();
    assert_eq!(actions, ["user.create", "user.link_google"]);

    // An unverified address makes no account either.
    google.add_user(
        GoogleUser::verified("110000000000000000003", "unverified@example.com", "Eve")
            .with_email_verified(false),
    );
    google.sign_in_as("110000000000000000003");
    assert_eq!(sign_in(&http, &facade).await, FAILED);
    assert!(
        stack
            .db
            .db
            .users()
            .find_by_email("unverified@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // A forged state fails, and leaves the real sign-in to finish.
    google.sign_in_as("110000000000000000001");
    let granted = start(&http, &facade).await;
    let forged = granted.with("state", "forged-state-0123456789abcdefghijklmnopqrstu");
    assert_eq!(finish(&http, &forged, Some(&granted.cookie)).await, FAILED);
    let forged_cookie = "fasterclaw_google_state=forged-state-0123456789abcdefghijklmnopqrstu";
    assert_eq!(finish(&http, &forged, Some(forged_cookie)).await, FAILED);
    assert_eq!(finish(&http, &granted.callback, None).await, FAILED);
    let exchanges = google.token_requests();
    let landed = finish(&http, &granted.callback, Some(&granted.cookie)).await;
    assert_eq!(session(&facade, &landed).me().await.unwrap().id, grace.id);
    assert_eq!(
        google.token_requests(),
        exchanges + 1,
        "only the genuine callback reached Google"
    );

    // The same callback again: its state is spent.
    assert_eq!(
        finish(&http, &granted.callback, Some(&granted.cookie)).await,
        FAILED
    );
    // A used code under a new, genuine state: Google refuses it (invalid_grant).
    let again = start(&http, &facade).await;
    let reused = again.with("code", &granted.param("code"));
    assert_eq!(finish(&http, &reused, Some(&again.cookie)).await, FAILED);
    assert_eq!(google.token_requests(), exchanges + 2);

    // A refusal at Google.
    let refused = start(&http, &facade).await;
    let denied = format!(
        "{}?error=access_denied&state={}",
        refused.callback.split('?').next().unwrap(),
        refused.param("state")
    );
    assert_eq!(finish(&http, &denied, Some(&refused.cookie)).await, FAILED);

    // Nothing secret reaches the log.
    let logs = facade.logs();
    for secret in [
        CLIENT_SECRET,
        &granted.param("code"),
        &granted.param("state"),
        first.strip_prefix(LANDING).unwrap(),
    ] {
        assert!(!logs.contains(secret), "a secret is in the log");
    }
    assert!(
        logs.contains("a sign-in with Google failed"),
        "failures are logged"
    );
}

/// A session token of `user` issued `age` ago, as the facade signs them.
fn session_token(user: &fasterclaw::api::contract::User, age: Duration) -> String {
    let now = chrono::Utc::now().timestamp();
    let issued = now - age.as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "sub": user.id.to_string(), "email": user.email, "name": user.name,
            "iat": issued, "exp": issued + 7 * 24 * 3600, "tv": 0,
            "iss": "fasterclaw", "aud": "fasterclaw-web",
        }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn password(text: &str) -> DeleteAccountRequest {
    serde_json::from_value(json!({ "password": text })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_everywhere_and_deletion_asks_for_proof() {
    let stack = Stack::new().await;
    let google = google().await;
    let facade = google_facade(&stack, &google).await;
    let http = browser();

    // Signing out everywhere ends every session, the caller's too.
    let (first, user) = sign_up(&facade.client()).await;
    let second = facade.client().with_token(
        facade
            .client()
            .login(
                &serde_json::from_value(
                    json!({ "email": user.email, "password": "a good password" }),
                )
                .unwrap(),
            )
            .await
            .unwrap()
            .access_token,
    );
    assert_eq!(
        first.logout_all().await.unwrap().message,
        "Signed out of every session"
    );
    for client in [&first, &second] {
        assert_eq!(client.me().await.unwrap_err().status(), Some(401));
    }
    let lines = stack
        .db
        .db
        .audit()
        .for_target(&format!("user:{}", user.id))
        .await
        .unwrap();
    assert!(lines.iter().any(|l| l.action == "user.logout_all"));

    // A password account is deleted with its password only.
    let (owner, user) = sign_up(&facade.client()).await;
    let none = owner
        .delete_account(&DeleteAccountRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none.status(), Some(400), "{none}");
    let wrong = owner
        .delete_account(&password("not the password"))
        .await
        .unwrap_err();
    assert_eq!(wrong.to_string(), "401: Password is incorrect");
    assert!(owner.me().await.is_ok());
    owner
        .delete_account(&password("a good password"))
        .await
        .unwrap();
    assert_eq!(owner.me().await.unwrap_err().status(), Some(401));
    let actions: Vec<String> = stack
        .db
        .db
        .audit()
        .for_target(&format!("user:{}", user.id))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.action)
        .collect();
    assert_eq!(actions, ["user.create", "user.delete"]);

    // A Google account is deleted after a fresh sign-in only.
    google.add_user(GoogleUser::verified(
        "110000000000000000009",
        "lin@example.com",
        "Lin",
    ));
    google.sign_in_as("110000000000000000009");
    let landing = sign_in(&http, &facade).await;
    let fresh = session(&facade, &landing);
    let lin = fresh.me().await.unwrap();
    let stale = facade
        .client()
        .with_token(session_token(&lin, Duration::from_secs(20 * 60)));
    assert!(stale.me().await.is_ok(), "the old session is valid");
    let refused = stale
        .delete_account(&DeleteAccountRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    assert!(fresh.me().await.is_ok());
    fresh
        .delete_account(&DeleteAccountRequest::default())
        .await
        .unwrap();
    assert_eq!(fresh.me().await.unwrap_err().status(), Some(401));
}
