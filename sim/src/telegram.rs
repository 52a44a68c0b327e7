//! A stand-in for the Telegram Bot API's `getMe`, with its real shapes: 200
//! `{"ok":true,"result":{...}}` for a known bot's token, 401
//! `{"ok":false,"error_code":401,"description":"Unauthorized"}` for a well-formed unknown
//! one (`"Unauthorized: invalid token specified"` for a malformed one), and 404
//! `{"ok":false,"error_code":404,"description":"Not Found"}` for other paths.
//!
//! Bots are registered with [`TelegramSim::add_bot`] or `POST /_sim/bots`
//! (`{"token", "username", "first_name"}`); with `accept_any_well_formed`, any
//! well-formed token is a bot named after its id, as a local stack wants.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::sync::lock;

/// A registered bot.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Bot {
    /// Its token.
    pub token: String,
    /// Its username (ends in `bot`).
    pub username: String,
    /// Its display name.
    pub first_name: String,
}

#[derive(Debug, Default)]
struct World {
    bots: BTreeMap<String, (i64, Bot)>,
    calls: u64,
}

#[derive(Debug)]
struct Shared {
    world: Mutex<World>,
    accept_any_well_formed: bool,
}

/// A running stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct TelegramSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

/// Telegram's own syntax of a token: `<bot id>:<secret>`, the id without a leading
/// zero, no `/`, at most 80 characters.
fn well_formed(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && !id.starts_with('0')
        && id.chars().all(|c| c.is_ascii_digit())
        && !secret.is_empty()
        && !token.contains('/')
        && token.len() <= 80
}

fn failure(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "ok": false, "error_code": code, "description": description })),
    )
        .into_response()
}

async fn bot_method(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return failure(404, "Not Found");
    };
    let mut world = lock(&shared.world);
    world.calls += 1;
    if !well_formed(token) {
        return failure(401, "Unauthorized: invalid token specified");
    }
    if !method.eq_ignore_ascii_case("getme") {
        return failure(404, "Not Found");
    }
    let known = world.bots.get(token).cloned().or_else(|| {
        shared.accept_any_well_formed.then(|| {
            let id: i64 = token
                .split(':')
                .next()
                .and_then(|i| i.parse().ok())
                .unwrap_or(1);
            (
                id,
                Bot {
                    token: token.to_owned(),
                    username: format!("bot{id}_bot"),
                    first_name: format!("Bot {id}"),
                },
            )
        })
    });
    match known {
        Some((id, bot)) => Json(json!({
            "ok": true,
            "result": {
                "id": id,
                "is_bot": true,
                "first_name": bot.first_name,
                "username": bot.username,
                "can_join_groups": true,
                "can_read_all_group_messages": false,
                "supports_inline_queries": false,
                "can_connect_to_business": false,
                "has_main_web_app": false,
            }
        }))
        .into_response(),
        None => failure(401, "Unauthorized"),
    }
}

async fn not_found() -> Response {
    failure(404, "Not Found")
}

async fn register(State(shared): State<Arc<Shared>>, Json(bot): Json<Bot>) -> Response {
    if !well_formed(&bot.token) {
        return (StatusCode::BAD_REQUEST, "not a well-formed token").into_response();
    }
    add(&shared, bot);
    StatusCode::NO_CONTENT.into_response()
}

fn add(shared: &Shared, bot: Bot) {
    let id = bot
        .token
        .split(':')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or(1);
    lock(&shared.world)
        .bots
        .insert(bot.token.clone(), (id, bot));
}

impl TelegramSim {
    /// Starts the stand-in on `listen`.
    pub async fn start(listen: SocketAddr, accept_any_well_formed: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::default(),
            accept_any_well_formed,
        });
        let app = axum::Router::new()
            .route("/_sim/bots", post(register))
            .route("/{bot}/{method}", any(bot_method))
            .fallback(not_found)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Telegram stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The base URL to give a client (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers a bot.
    pub fn add_bot(&self, token: &str, username: &str, first_name: &str) {
        add(
            &self.shared,
            Bot {
                token: token.to_owned(),
                username: username.to_owned(),
                first_name: first_name.to_owned(),
            },
        );
    }

    /// Calls of bot methods so far.
    pub fn calls(&self) -> u64 {
        lock(&self.shared.world).calls
    }
}

impl Drop for TelegramSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegrams_token_syntax() {
        assert!(well_formed("110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        for bad in [
            "", "nocolon", "0123:abc", ":abc", "123:", "12a:abc", "123:a/b",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
