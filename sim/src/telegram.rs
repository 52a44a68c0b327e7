//! A stand-in for the Telegram Bot API, as an OpenClaw gateway uses it: long polling
//! with `getUpdates`, private chats, and the methods a bot answers with.
//!
//! Bots are called at `GET|POST /bot<token>/<method>`, with parameters in the query,
//! or in a JSON, form-encoded or multipart body, and are answered in Telegram's wire
//! format: `{"ok":true,"result":...}` or `{"ok":false,"error_code":...,"description":...}`.
//! A well-formed unknown token is answered 401 `Unauthorized` (a malformed one
//! `Unauthorized: invalid token specified`) before the method is looked at; an unknown
//! method 404 `Not Found`. Method names are case-insensitive.
//!
//! Served methods: `getMe`, `deleteWebhook`, `getWebhookInfo`, `getUpdates` (long
//! polling with `offset`, `limit`, `timeout` and `allowed_updates`; a second concurrent
//! call ends the waiting one with 409), `sendMessage`, `editMessageText`,
//! `deleteMessage`, `sendChatAction`, `setMessageReaction`, `setMyCommands`,
//! `deleteMyCommands`, `getMyCommands`, `getChat` and `answerCallbackQuery`.
//! `setWebhook` is refused: the stand-in only delivers updates by polling.
//!
//! Only private chats exist: a chat is opened by its user writing to the bot
//! ([`TelegramSim::send_user_message`] or `POST /_sim/bots/{bot}/messages`), and a
//! bot writing to any other chat is answered 400 `Bad Request: chat not found`. Each
//! bot has one sequence of message ids shared by its users' and its own messages;
//! its update ids start from the Unix time it was registered, offset by a million
//! times the last two digits of its id, so they keep increasing across restarts of the
//! stand-in and, as on Telegram, two bots' sequences are apart even when registered in
//! the same second (and stay below 2^31, as Telegram's do).
//!
//! Bots are registered with [`TelegramSim::add_bot`] or `POST /_sim/bots`
//! (`{"token", "username", "first_name"}`); with `accept_any_well_formed`, any
//! well-formed token is a bot named after its id, stored on first use.
//!
//! The control API under `/_sim` and the chat page at `/chat` never show a token:
//! listings carry [`token_digest`] instead.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sync::lock;

/// The longest `getUpdates` may wait, in seconds (Telegram's own bound is larger;
/// clients ask for 30 at most).
const MAX_POLL_SECONDS: u64 = 50;
/// The longest `GET /_sim/bots/{bot}/sent` may wait, in seconds.
const MAX_WAIT_SECONDS: u64 = 120;

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

/// A person writing to a bot in a private chat (the chat's id is the user's id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id (positive).
    pub id: i64,
    /// The user's first name.
    pub first_name: String,
    /// The user's username, without `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl User {
    /// A user without a username.
    pub fn new(id: i64, first_name: &str) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            username: None,
        }
    }

    /// The same user with a username (a leading `@` is dropped).
    #[must_use]
    pub fn with_username(mut self, username: &str) -> Self {
        self.username = Some(username.trim_start_matches('@').to_owned());
        self
    }

    fn json(&self) -> Value {
        let mut user = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name, "language_code": "en" });
        if let Some(username) = &self.username {
            user["username"] = json!(username);
        }
        user
    }

    fn chat_json(&self) -> Value {
        let mut chat = json!({ "id": self.id, "type": "private", "first_name": self.first_name });
        if let Some(username) = &self.username {
            chat["username"] = json!(username);
        }
        chat
    }
}

/// A message in a private chat, from its user or from the bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The chat (the user's id).
    pub chat_id: i64,
    /// The message's id in the bot's sequence.
    pub message_id: i64,
    /// Whether the bot wrote it.
    pub from_bot: bool,
    /// Its text, as sent (with markup when `parse_mode` is set).
    pub text: String,
    /// The `parse_mode` it was sent with (`HTML`, `MarkdownV2`, ...).
    pub parse_mode: Option<String>,
    /// When it was sent (Unix seconds).
    pub date: i64,
    /// When it was last edited (Unix seconds).
    pub edit_date: Option<i64>,
}

impl ChatMessage {
    /// The text as a person reads it: with `parse_mode` HTML, tags are removed and
    /// entities decoded.
    pub fn plain_text(&self) -> String {
        match self.parse_mode.as_deref() {
            Some(mode) if mode.eq_ignore_ascii_case("html") => html_to_plain(&self.text),
            _ => self.text.clone(),
        }
    }
}

/// What [`TelegramSim::send_user_message`] posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Posted {
    /// The update's id.
    pub update_id: i64,
    /// The message's id.
    pub message_id: i64,
    /// The chat's id (the user's).
    pub chat_id: i64,
}

/// Why the stand-in refused a call of its own API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelegramSimError {
    /// No bot has this token or username.
    #[error("no bot {0:?}")]
    UnknownBot(String),
    /// User ids are positive.
    #[error("user ids are positive, not {0}")]
    BadUser(i64),
    /// A message needs text.
    #[error("the message has no text")]
    EmptyText,
}

/// The short digest of a token that listings show instead of it (the first 12 hex
/// digits of its SHA-256).
pub fn token_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(digest)[..12].to_owned()
}

#[derive(Debug)]
struct BotState {
    id: i64,
    bot: Bot,
    registered_at: i64,
    next_update_id: i64,
    next_message_id: i64,
    /// Updates not yet confirmed by an `offset`.
    updates: VecDeque<(i64, &'static str, Value)>,
    allowed_updates: Option<Vec<String>>,
    users: BTreeMap<i64, User>,
    messages: Vec<ChatMessage>,
    methods: Vec<String>,
    commands: Value,
    /// The `getUpdates` call allowed to go on waiting.
    poller: u64,
}

impl BotState {
    fn new(id: i64, bot: Bot) -> Self {
        let now = now();
        Self {
            id,
            bot,
            registered_at: now,
            next_update_id: now + id.rem_euclid(100) * 1_000_000,
            next_message_id: 1,
            updates: VecDeque::new(),
            allowed_updates: None,
            users: BTreeMap::new(),
            messages: Vec::new(),
            methods: Vec::new(),
            commands: json!([]),
            poller: 0,
        }
    }

    fn me(&self) -> Value {
        json!({
            "id": self.id,
            "is_bot": true,
            "first_name": self.bot.first_name,
            "username": self.bot.username,
        })
    }

    fn message_json(&self, message: &ChatMessage) -> Value {
        let user = self.users.get(&message.chat_id);
        let chat = user.map_or_else(
            || json!({ "id": message.chat_id, "type": "private" }),
            User::chat_json,
        );
        let from = if message.from_bot {
            self.me()
        } else {
            user.map_or_else(|| json!({ "id": message.chat_id }), User::json)
        };
        let mut value = json!({
            "message_id": message.message_id,
            "from": from,
            "chat": chat,
            "date": message.date,
            "text": if message.from_bot { message.plain_text() } else { message.text.clone() },
        });
        if let Some(edit_date) = message.edit_date {
            value["edit_date"] = json!(edit_date);
        }
        if !message.from_bot && message.text.starts_with('/') {
            let length = message
                .text
                .split_whitespace()
                .next()
                .map_or(0, |c| c.encode_utf16().count());
            value["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": length }]);
        }
        value
    }

    fn listing(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.bot.username,
            "first_name": self.bot.first_name,
            "token_digest": token_digest(&self.bot.token),
            "registered_at": self.registered_at,
            "pending_updates": self.updates.len(),
            "chats": self.users.keys().collect::<Vec<_>>(),
            "calls": self.methods.len(),
        })
    }
}

#[derive(Debug, Default)]
struct World {
    bots: BTreeMap<String, BotState>,
    calls: u64,
}

impl World {
    /// The token of the bot named by `bot`: its token, or its username with or
    /// without `@` (case-insensitive).
    fn token_of(&self, bot: &str) -> Option<String> {
        if self.bots.contains_key(bot) {
            return Some(bot.to_owned());
        }
        let name = bot.trim_start_matches('@');
        self.bots
            .values()
            .find(|b| b.bot.username.eq_ignore_ascii_case(name))
            .map(|b| b.bot.token.clone())
    }

    fn bot_mut(&mut self, bot: &str) -> Option<&mut BotState> {
        let token = self.token_of(bot)?;
        self.bots.get_mut(&token)
    }

    fn bot(&self, bot: &str) -> Option<&BotState> {
        let token = self.token_of(bot)?;
        self.bots.get(&token)
    }
}

#[derive(Debug)]
struct Shared {
    world: Mutex<World>,
    accept_any_well_formed: bool,
    /// Bumped on every change that a waiting call could be waiting for.
    changes: watch::Sender<u64>,
}

impl Shared {
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `ready` gives a value, or `timeout` passes.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&World) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if let Some(value) = ready(&lock(&self.world)) {
                return Some(value);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return ready(&lock(&self.world));
            }
        }
    }
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

fn bot_id(token: &str) -> i64 {
    token
        .split(':')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or(1)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn failure(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "ok": false, "error_code": code, "description": description })),
    )
        .into_response()
}

fn success(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn bad_request(what: &str) -> Response {
    failure(400, &format!("Bad Request: {what}"))
}

/// The Bot API methods the stand-in serves (`setWebhook` only to refuse it).
pub const SERVED_METHODS: &[&str] = &[
    "getMe",
    "deleteWebhook",
    "getWebhookInfo",
    "setWebhook",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "deleteMessage",
    "sendChatAction",
    "setMessageReaction",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "getChat",
    "answerCallbackQuery",
];

/// The parameters of a call: the query's, then the body's (JSON, form or multipart).
fn parameters(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    if let Some(query) = query {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            _ => return Err("can't parse JSON object".to_owned()),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else if content_type.starts_with("multipart/form-data") {
        let boundary = content_type_boundary(headers).ok_or("no multipart boundary")?;
        for (name, value) in multipart_fields(body, &boundary) {
            params.insert(name, Value::String(value));
        }
    }
    Ok(params)
}

fn content_type_boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })
}

/// The text fields of a `multipart/form-data` body (files are kept as text too).
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut fields = Vec::new();
    for part in body.split(&delimiter).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let name = head.lines().find_map(|line| {
            let (key, rest) = line.split_once(':')?;
            if !key.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            rest.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == "name").then(|| v.trim_matches('"').to_owned())
            })
        });
        if let Some(name) = name {
            fields.push((name, value.to_owned()));
        }
    }
    fields
}

/// A parameter that is an integer (a JSON number or a string of one).
fn integer(params: &Map<String, Value>, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn string(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A parameter that is JSON (a JSON value, or a string holding JSON as forms send it).
fn structured(params: &Map<String, Value>, name: &str) -> Option<Value> {
    match params.get(name)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

async fn bot_method(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return failure(404, "Not Found");
    };
    {
        let mut world = lock(&shared.world);
        world.calls += 1;
        if !well_formed(token) {
            return failure(401, "Unauthorized: invalid token specified");
        }
        if !world.bots.contains_key(token) {
            if !shared.accept_any_well_formed {
                return failure(401, "Unauthorized");
            }
            let id = bot_id(token);
            let bot = Bot {
                token: token.to_owned(),
                username: format!("bot{id}_bot"),
                first_name: format!("Bot {id}"),
            };
            world.bots.insert(token.to_owned(), BotState::new(id, bot));
        }
    }
    let Some(method) = SERVED_METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(&method))
        .copied()
    else {
        // Kept in the bot's calls, so that a test sees what a client wanted.
        if let Some(state) = lock(&shared.world).bots.get_mut(token) {
            state.methods.push(method);
        }
        shared.changed();
        return failure(404, "Not Found");
    };
    let params = match parameters(query.as_deref(), &headers, &body) {
        Ok(params) => params,
        Err(e) => return bad_request(&e),
    };
    let username = {
        let mut world = lock(&shared.world);
        let Some(state) = world.bots.get_mut(token) else {
            return failure(401, "Unauthorized");
        };
        state.methods.push(method.to_owned());
        state.bot.username.clone()
    };
    shared.changed();
    tracing::debug!(bot = %username, method, "a Bot API call");
    if method == "getUpdates" {
        return get_updates(&shared, token, &params).await;
    }
    let mut world = lock(&shared.world);
    let Some(state) = world.bots.get_mut(token) else {
        return failure(401, "Unauthorized");
    };
    let response = call(state, method, &params);
    drop(world);
    shared.changed();
    response
}

/// The methods other than `getUpdates`.
fn call(state: &mut BotState, method: &str, params: &Map<String, Value>) -> Response {
    let chat = |state: &BotState| -> Result<i64, &'static str> {
        let id = integer(params, "chat_id").ok_or("chat_id is empty")?;
        if state.users.contains_key(&id) {
            Ok(id)
        } else {
            Err("chat not found")
        }
    };
    match method {
        "getMe" => {
            let mut me = state.me();
            for (k, v) in [
                ("can_join_groups", true),
                ("can_read_all_group_messages", false),
                ("supports_inline_queries", false),
                ("can_connect_to_business", false),
                ("has_main_web_app", false),
            ] {
                me[k] = json!(v);
            }
            success(me)
        }
        "deleteWebhook" => {
            if params
                .get("drop_pending_updates")
                .is_some_and(|v| v == &json!(true) || v == &json!("true"))
            {
                state.updates.clear();
            }
            success(json!(true))
        }
        "getWebhookInfo" => success(json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": state.updates.len(),
        })),
        "setWebhook" => failure(
            404,
            "Not Found: webhooks are not supported here; use getUpdates",
        ),
        "sendMessage" => {
            let chat_id = match chat(&*state) {
                Ok(id) => id,
                Err(e) => return bad_request(e),
            };
            let text = string(params, "text").unwrap_or_default();
            if text.trim().is_empty() {
                return bad_request("message text is empty");
            }
            if text.chars().count() > 4096 {
                return bad_request("message is too long");
            }
            let message = ChatMessage {
                chat_id,
                message_id: state.next_message_id,
                from_bot: true,
                text,
                parse_mode: string(params, "parse_mode").filter(|m| !m.is_empty()),
                date: now(),
                edit_date: None,
            };
            state.next_message_id += 1;
            let value = state.message_json(&message);
            state.messages.push(message);
            success(value)
        }
        "editMessageText" => {
            let chat_id = match chat(&*state) {
                Ok(id) => id,
                Err(e) => return bad_request(e),
            };
            let Some(message_id) = integer(params, "message_id") else {
                return bad_request("message identifier is not specified");
            };
            let text = string(params, "text").unwrap_or_default();
            if text.trim().is_empty() {
                return bad_request("message text is empty");
            }
            let parse_mode = string(params, "parse_mode").filter(|m| !m.is_empty());
            let Some(index) = state
                .messages
                .iter()
                .position(|m| m.chat_id == chat_id && m.message_id == message_id && m.from_bot)
            else {
                return bad_request("message to edit not found");
            };
            let message = &mut state.messages[index];
            if message.text == text && message.parse_mode == parse_mode {
                return bad_request(
                    "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                );
            }
            message.text = text;
            message.parse_mode = parse_mode;
            message.edit_date = Some(now());
            let message = message.clone();
            success(state.message_json(&message))
        }
        "deleteMessage" => {
            let chat_id = match chat(&*state) {
                Ok(id) => id,
                Err(e) => return bad_request(e),
            };
            let Some(message_id) = integer(params, "message_id") else {
                return bad_request("message identifier is not specified");
            };
            let before = state.messages.len();
            state
                .messages
                .retain(|m| !(m.chat_id == chat_id && m.message_id == message_id));
            if state.messages.len() == before {
                return bad_request("message to delete not found");
            }
            success(json!(true))
        }
        "sendChatAction" => match chat(&*state) {
            Ok(_) => success(json!(true)),
            Err(e) => bad_request(e),
        },
        "setMessageReaction" => {
            let chat_id = match chat(&*state) {
                Ok(id) => id,
                Err(e) => return bad_request(e),
            };
            let message_id = integer(params, "message_id");
            if !state
                .messages
                .iter()
                .any(|m| m.chat_id == chat_id && Some(m.message_id) == message_id)
            {
                return bad_request("message to react not found");
            }
            success(json!(true))
        }
        "setMyCommands" => match structured(params, "commands") {
            Some(Value::Array(commands)) => {
                state.commands = Value::Array(commands);
                success(json!(true))
            }
            _ => bad_request("parameter \"commands\" is required"),
        },
        "deleteMyCommands" => {
            state.commands = json!([]);
            success(json!(true))
        }
        "getMyCommands" => success(state.commands.clone()),
        "getChat" => match chat(&*state) {
            Ok(id) => {
                let mut value = state
                    .users
                    .get(&id)
                    .map_or_else(|| json!({ "id": id }), User::chat_json);
                value["accent_color_id"] = json!(0);
                value["max_reaction_count"] = json!(11);
                success(value)
            }
            Err(e) => bad_request(e),
        },
        "answerCallbackQuery" => {
            if string(params, "callback_query_id").is_none_or(|id| id.is_empty()) {
                return bad_request("query ID is empty");
            }
            success(json!(true))
        }
        _ => failure(404, "Not Found"),
    }
}

async fn get_updates(shared: &Shared, token: &str, params: &Map<String, Value>) -> Response {
    let offset = integer(params, "offset").unwrap_or(0);
    let limit = integer(params, "limit")
        .unwrap_or(100)
        .clamp(1, 100)
        .unsigned_abs();
    let timeout = integer(params, "timeout")
        .unwrap_or(0)
        .clamp(0, i64::try_from(MAX_POLL_SECONDS).unwrap_or(50))
        .unsigned_abs();
    let allowed = structured(params, "allowed_updates")
        .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok());
    let ticket = {
        let mut world = lock(&shared.world);
        let Some(state) = world.bots.get_mut(token) else {
            return failure(401, "Unauthorized");
        };
        if let Some(allowed) = allowed {
            state.allowed_updates = (!allowed.is_empty()).then_some(allowed);
        }
        if offset > 0 {
            state.updates.retain(|(id, _, _)| *id >= offset);
        } else if offset < 0 {
            let keep = offset.unsigned_abs().try_into().unwrap_or(usize::MAX);
            while state.updates.len() > keep {
                state.updates.pop_front();
            }
        }
        if let Some(allowed) = &state.allowed_updates {
            state
                .updates
                .retain(|(_, kind, _)| allowed.iter().any(|a| a == kind));
        }
        state.poller += 1;
        state.poller
    };
    shared.changed();
    enum Outcome {
        Updates(Vec<Value>),
        Conflict,
    }
    let limit = usize::try_from(limit).unwrap_or(100);
    let outcome = shared
        .wait_for(Duration::from_secs(timeout), |world| {
            let state = world.bots.get(token)?;
            if state.poller != ticket {
                return Some(Outcome::Conflict);
            }
            (!state.updates.is_empty()).then(|| {
                Outcome::Updates(
                    state
                        .updates
                        .iter()
                        .take(limit)
                        .map(|(_, _, u)| u.clone())
                        .collect(),
                )
            })
        })
        .await;
    match outcome {
        Some(Outcome::Conflict) => failure(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        ),
        Some(Outcome::Updates(updates)) => success(Value::Array(updates)),
        None => success(json!([])),
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

async fn list_bots(State(shared): State<Arc<Shared>>) -> Response {
    let world = lock(&shared.world);
    Json(Value::Array(
        world.bots.values().map(BotState::listing).collect(),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct IncomingMessage {
    from: User,
    text: String,
}

fn sim_error(e: &TelegramSimError) -> Response {
    let status = match e {
        TelegramSimError::UnknownBot(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

async fn post_message(
    State(shared): State<Arc<Shared>>,
    Path(bot): Path<String>,
    Json(message): Json<IncomingMessage>,
) -> Response {
    match post_user_message(&shared, &bot, &message.from, &message.text) {
        Ok(posted) => Json(posted).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize)]
struct Revocation {
    token: String,
}

async fn post_revoke(
    State(shared): State<Arc<Shared>>,
    Path(bot): Path<String>,
    Json(revocation): Json<Revocation>,
) -> Response {
    match revoke(&shared, &bot, &revocation.token) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_error(&e),
    }
}

/// BotFather's `/revoke`: the bot keeps its id, username and chats under `new_token`;
/// its old token is refused (401) from now on.
fn revoke(shared: &Shared, bot: &str, new_token: &str) -> Result<(), TelegramSimError> {
    {
        let mut world = lock(&shared.world);
        let token = world
            .token_of(bot)
            .ok_or_else(|| TelegramSimError::UnknownBot(bot_label(bot)))?;
        let Some(mut state) = world.bots.remove(&token) else {
            return Err(TelegramSimError::UnknownBot(bot_label(bot)));
        };
        state.bot.token = new_token.to_owned();
        // A poller waiting with the old token is ended.
        state.poller += 1;
        world.bots.insert(new_token.to_owned(), state);
    }
    shared.changed();
    Ok(())
}

#[derive(Deserialize)]
struct SentQuery {
    chat_id: Option<i64>,
    after: Option<i64>,
    wait: Option<u64>,
}

async fn get_sent(
    State(shared): State<Arc<Shared>>,
    Path(bot): Path<String>,
    Query(query): Query<SentQuery>,
) -> Response {
    if lock(&shared.world).bot(&bot).is_none() {
        return sim_error(&TelegramSimError::UnknownBot(bot_label(&bot)));
    }
    let after = query.after.unwrap_or(0);
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECONDS));
    let sent = shared
        .wait_for(wait, |world| {
            let found = sent_by(world, &bot, query.chat_id, after);
            (!found.is_empty()).then_some(found)
        })
        .await
        .unwrap_or_default();
    Json(sent).into_response()
}

async fn get_chat(
    State(shared): State<Arc<Shared>>,
    Path((bot, chat_id)): Path<(String, i64)>,
) -> Response {
    let world = lock(&shared.world);
    let Some(state) = world.bot(&bot) else {
        return sim_error(&TelegramSimError::UnknownBot(bot_label(&bot)));
    };
    let Some(user) = state.users.get(&chat_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such chat" })),
        )
            .into_response();
    };
    let messages: Vec<&ChatMessage> = state
        .messages
        .iter()
        .filter(|m| m.chat_id == chat_id)
        .collect();
    Json(json!({ "chat_id": chat_id, "user": user, "messages": messages })).into_response()
}

async fn get_calls(State(shared): State<Arc<Shared>>, Path(bot): Path<String>) -> Response {
    let world = lock(&shared.world);
    match world.bot(&bot) {
        Some(state) => Json(&state.methods).into_response(),
        None => sim_error(&TelegramSimError::UnknownBot(bot_label(&bot))),
    }
}

/// How a bot is named in errors: a token is replaced by its digest.
fn bot_label(bot: &str) -> String {
    if bot.contains(':') {
        format!("token {}", token_digest(bot))
    } else {
        bot.to_owned()
    }
}

fn sent_by(world: &World, bot: &str, chat_id: Option<i64>, after: i64) -> Vec<ChatMessage> {
    world.bot(bot).map_or_else(Vec::new, |state| {
        state
            .messages
            .iter()
            .filter(|m| {
                m.from_bot && m.message_id > after && chat_id.is_none_or(|c| c == m.chat_id)
            })
            .cloned()
            .collect()
    })
}

fn post_user_message(
    shared: &Shared,
    bot: &str,
    user: &User,
    text: &str,
) -> Result<Posted, TelegramSimError> {
    if user.id <= 0 {
        return Err(TelegramSimError::BadUser(user.id));
    }
    if text.trim().is_empty() {
        return Err(TelegramSimError::EmptyText);
    }
    let posted = {
        let mut world = lock(&shared.world);
        let state = world
            .bot_mut(bot)
            .ok_or_else(|| TelegramSimError::UnknownBot(bot_label(bot)))?;
        state.users.insert(user.id, user.clone());
        let message = ChatMessage {
            chat_id: user.id,
            message_id: state.next_message_id,
            from_bot: false,
            text: text.to_owned(),
            parse_mode: None,
            date: now(),
            edit_date: None,
        };
        state.next_message_id += 1;
        let update_id = state.next_update_id;
        state.next_update_id += 1;
        let update = json!({ "update_id": update_id, "message": state.message_json(&message) });
        state.updates.push_back((update_id, "message", update));
        let posted = Posted {
            update_id,
            message_id: message.message_id,
            chat_id: user.id,
        };
        state.messages.push(message);
        posted
    };
    shared.changed();
    Ok(posted)
}

fn add(shared: &Shared, bot: Bot) {
    let id = bot_id(&bot.token);
    {
        let mut world = lock(&shared.world);
        match world.bots.get_mut(&bot.token) {
            Some(state) => state.bot = bot,
            None => {
                world.bots.insert(bot.token.clone(), BotState::new(id, bot));
            }
        }
    }
    shared.changed();
}

/// HTML-escapes `text` for an element or an attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Telegram's HTML as text: tags removed, entities decoded.
fn html_to_plain(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (false, c) => text.push(c),
            (true, _) => {}
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Deserialize, Default)]
struct ChatPageQuery {
    bot: Option<String>,
    user_id: Option<i64>,
    name: Option<String>,
    username: Option<String>,
    error: Option<String>,
}

async fn chat_page(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ChatPageQuery>,
) -> Html<String> {
    let bots: Vec<String> = lock(&shared.world)
        .bots
        .values()
        .map(|b| b.bot.username.clone())
        .collect();
    let selected = query
        .bot
        .clone()
        .or_else(|| bots.first().cloned())
        .unwrap_or_default();
    let user_id = query.user_id.unwrap_or(424_242);
    let name = query.name.clone().unwrap_or_else(|| "Ada".to_owned());
    let username = query.username.clone().unwrap_or_default();
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Telegram stand-in</title></head><body><h1>Chat with a bot</h1>",
    );
    if let Some(error) = &query.error {
        let _ = write!(page, "<p class=\"error\">{}</p>", escape(error));
    }
    page.push_str("<form method=\"post\" action=\"/chat\"><label>Bot <select name=\"bot\">");
    for bot in &bots {
        let mark = if *bot == selected { " selected" } else { "" };
        let _ = write!(
            page,
            "<option value=\"{0}\"{mark}>@{0}</option>",
            escape(bot)
        );
    }
    let _ = write!(
        page,
        "</select></label> <label>User id <input name=\"user_id\" value=\"{user_id}\"></label> \
         <label>Name <input name=\"name\" value=\"{}\"></label> \
         <label>Username <input name=\"username\" value=\"{}\"></label><br>\
         <textarea name=\"text\" rows=\"3\" cols=\"60\"></textarea><br><button>Send</button></form>",
        escape(&name),
        escape(&username)
    );
    if !selected.is_empty() {
        let log = format!(
            "/chat/log?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("bot", &selected)
                .append_pair("chat_id", &user_id.to_string())
                .finish()
        );
        let _ = write!(
            page,
            "<iframe src=\"{}\" width=\"100%\" height=\"400\"></iframe>",
            escape(&log)
        );
    }
    page.push_str("</body></html>");
    Html(page)
}

async fn chat_post(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let bot = form.get("bot").cloned().unwrap_or_default();
    let name = form
        .get("name")
        .cloned()
        .unwrap_or_else(|| "Ada".to_owned());
    let username = form.get("username").cloned().unwrap_or_default();
    let user_id = form
        .get("user_id")
        .and_then(|i| i.trim().parse::<i64>().ok());
    let mut back = form_urlencoded::Serializer::new(String::new());
    back.append_pair("bot", &bot)
        .append_pair("name", &name)
        .append_pair("username", &username);
    let outcome = match user_id {
        Some(id) => {
            back.append_pair("user_id", &id.to_string());
            let mut user = User::new(id, &name);
            if !username.is_empty() {
                user = user.with_username(&username);
            }
            post_user_message(
                &shared,
                &bot,
                &user,
                form.get("text").map_or("", String::as_str),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        }
        None => Err("the user id must be a number".to_owned()),
    };
    if let Err(e) = outcome {
        back.append_pair("error", &e);
    }
    Redirect::to(&format!("/chat?{}", back.finish())).into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    bot: String,
    chat_id: i64,
}

async fn chat_log(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<LogQuery>,
) -> Html<String> {
    let world = lock(&shared.world);
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\"><title>Conversation</title></head><body>",
    );
    match world.bot(&query.bot) {
        None => {
            let _ = write!(page, "<p>No bot {}.</p>", escape(&bot_label(&query.bot)));
        }
        Some(state) => {
            let user = state.users.get(&query.chat_id);
            let who = user.map_or_else(|| query.chat_id.to_string(), |u| u.first_name.clone());
            let _ = write!(
                page,
                "<h2>@{} and {}</h2><ol>",
                escape(&state.bot.username),
                escape(&who)
            );
            for message in state.messages.iter().filter(|m| m.chat_id == query.chat_id) {
                let author = if message.from_bot {
                    format!("@{}", state.bot.username)
                } else {
                    who.clone()
                };
                let edited = if message.edit_date.is_some() {
                    " (edited)"
                } else {
                    ""
                };
                let _ = write!(
                    page,
                    "<li><b>{}</b>{edited}: {}</li>",
                    escape(&author),
                    escape(&message.plain_text())
                );
            }
            page.push_str("</ol>");
        }
    }
    page.push_str("</body></html>");
    Html(page)
}

impl TelegramSim {
    /// Starts the stand-in on `listen`.
    pub async fn start(listen: SocketAddr, accept_any_well_formed: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::default(),
            accept_any_well_formed,
            changes: watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .route("/_sim/bots", post(register).get(list_bots))
            .route("/_sim/bots/{bot}/messages", post(post_message))
            .route("/_sim/bots/{bot}/revoke", post(post_revoke))
            .route("/_sim/bots/{bot}/sent", get(get_sent))
            .route("/_sim/bots/{bot}/chats/{chat_id}", get(get_chat))
            .route("/_sim/bots/{bot}/calls", get(get_calls))
            .route("/chat", get(chat_page).post(chat_post))
            .route("/chat/log", get(chat_log))
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

    /// The base URL to give a client (`http://127.0.0.1:<port>`): the Bot API root
    /// (OpenClaw's `channels.telegram.apiRoot`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The chat page's URL.
    pub fn chat_url(&self) -> String {
        format!("http://{}/chat", self.addr)
    }

    /// Registers a bot (or renames a registered one).
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

    /// Revokes a bot's token as BotFather's `/revoke` does: the bot (its token or
    /// username) keeps its id, username and chats under `new_token`, and its old token
    /// is answered 401 from now on.
    pub fn revoke_token(&self, bot: &str, new_token: &str) -> Result<(), TelegramSimError> {
        revoke(&self.shared, bot, new_token)
    }

    /// Calls of bot methods so far, all bots together.
    pub fn calls(&self) -> u64 {
        lock(&self.shared.world).calls
    }

    /// `user` writes `text` to `bot` (its token or username): the message becomes an
    /// update for `getUpdates`.
    pub fn send_user_message(
        &self,
        bot: &str,
        user: &User,
        text: &str,
    ) -> Result<Posted, TelegramSimError> {
        post_user_message(&self.shared, bot, user, text)
    }

    /// What `bot` has sent and not deleted, in one chat or all, oldest first.
    pub fn sent(&self, bot: &str, chat_id: Option<i64>) -> Vec<ChatMessage> {
        sent_by(&lock(&self.shared.world), bot, chat_id, 0)
    }

    /// The first message `bot` sends in `chat_id` after message `after_message_id`,
    /// waiting at most `timeout` for it.
    pub async fn wait_for_reply(
        &self,
        bot: &str,
        chat_id: i64,
        after_message_id: i64,
        timeout: Duration,
    ) -> Option<ChatMessage> {
        self.shared
            .wait_for(timeout, |world| {
                sent_by(world, bot, Some(chat_id), after_message_id)
                    .into_iter()
                    .next()
            })
            .await
    }

    /// Both sides of a private chat, oldest first.
    pub fn conversation(&self, bot: &str, chat_id: i64) -> Vec<ChatMessage> {
        lock(&self.shared.world)
            .bot(bot)
            .map_or_else(Vec::new, |state| {
                state
                    .messages
                    .iter()
                    .filter(|m| m.chat_id == chat_id)
                    .cloned()
                    .collect()
            })
    }

    /// The methods `bot` has called, in order: served ones by their canonical names
    /// (`getUpdates`), others as called.
    pub fn methods(&self, bot: &str) -> Vec<String> {
        lock(&self.shared.world)
            .bot(bot)
            .map_or_else(Vec::new, |state| state.methods.clone())
    }

    /// Waits until `bot` has called `method` (any case) at least `count` times; whether
    /// it did within `timeout`.
    pub async fn wait_for_calls(
        &self,
        bot: &str,
        method: &str,
        count: usize,
        timeout: Duration,
    ) -> bool {
        self.shared
            .wait_for(timeout, |world| {
                let calls = world.bot(bot).map_or(0, |state| {
                    state
                        .methods
                        .iter()
                        .filter(|m| m.eq_ignore_ascii_case(method))
                        .count()
                });
                (calls >= count).then_some(())
            })
            .await
            .is_some()
    }

    /// The updates `bot` has not confirmed yet (Telegram's `Update` objects).
    pub fn pending_updates(&self, bot: &str) -> Vec<Value> {
        lock(&self.shared.world)
            .bot(bot)
            .map_or_else(Vec::new, |state| {
                state.updates.iter().map(|(_, _, u)| u.clone()).collect()
            })
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

    #[test]
    fn html_reads_as_text() {
        assert_eq!(
            html_to_plain("<b>a &lt;b&gt;</b> &amp; &quot;c&quot; &#39;d&#x27; & e"),
            "a <b> & \"c\" 'd' & e"
        );
    }

    #[test]
    fn multipart_fields_are_read() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--XX\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\nthere\r\n--XX--\r\n";
        assert_eq!(
            multipart_fields(body.as_bytes(), "XX"),
            vec![
                ("chat_id".to_owned(), "42".to_owned()),
                ("text".to_owned(), "hi\r\nthere".to_owned())
            ]
        );
    }
}
