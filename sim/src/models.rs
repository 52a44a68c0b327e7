//! A stand-in for the model APIs an OpenClaw gateway calls: Anthropic's Messages API,
//! OpenAI's Chat Completions, Responses and Embeddings, and Google's Gemini
//! `generateContent`, each streamed (server-sent events) and not, in the provider's
//! own shapes.
//!
//! Every answer is deterministic: [`answer_text`] of the model and of the text of the
//! last user message ([`user_text`]), so a test can tell which model answered what.
//! Every request is recorded as a [`ModelRequest`] (whether it carried a key, never the
//! key). A request without a key is refused as the provider refuses it (401; Google
//! 403), and so is a model listed as unavailable (404); [`ModelFaults`] also add
//! latency.
//!
//! Routes: `POST /v1/messages` (Anthropic), `POST /v1/chat/completions`,
//! `POST /v1/responses`, `POST /v1/embeddings` (OpenAI),
//! `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (Google,
//! SSE with `alt=sse`, else a JSON array), and the control API: `GET /_sim/requests`
//! (`after`, `wait` seconds to hold the request open until one arrives) and
//! `GET|PUT /_sim/faults`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sync::lock;

/// The longest `GET /_sim/requests` may wait, in seconds.
const MAX_WAIT_SECONDS: u64 = 120;

/// Whose API a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's APIs.
    #[serde(rename = "openai")]
    OpenAi,
    /// Google's Gemini API.
    Google,
}

/// One request the stand-in received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelRequest {
    /// Its number, from 1.
    pub seq: u64,
    /// The API it used.
    pub provider: Provider,
    /// The request path (without the query).
    pub path: String,
    /// The model it named (empty when it named none).
    pub model: String,
    /// Whether it asked for a streamed answer.
    pub stream: bool,
    /// The text of its last user message, with what OpenClaw wraps around it removed.
    pub user_text: Option<String>,
    /// Whether it carried an API key (the key itself is never kept).
    pub api_key: bool,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived (Unix milliseconds).
    pub at_ms: u64,
}

/// Faults to answer with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelFaults {
    /// Models answered 404, as a model the key has no access to.
    pub unavailable_models: Vec<String>,
    /// Milliseconds to wait before answering.
    pub latency_ms: u64,
}

/// The answer every model gives: `<model> here: you said “<text>”`.
pub fn answer_text(model: &str, user_text: &str) -> String {
    format!("{model} here: you said \u{201c}{user_text}\u{201d}")
}

/// The text of the last user message of a request body of any of the served APIs
/// (Anthropic `messages`, OpenAI `messages` or `input`, Google `contents`), content
/// given as a string or as blocks; with the metadata OpenClaw puts around a channel's
/// message removed ([`strip_envelope`]). `None` when there is no user text.
pub fn user_text(body: &Value) -> Option<String> {
    let list = body
        .get("messages")
        .or_else(|| body.get("contents"))
        .or_else(|| body.get("input"))?;
    if let Value::String(text) = list {
        return Some(strip_envelope(text));
    }
    let items = list.as_array()?;
    items.iter().rev().find_map(|item| {
        let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" {
            return None;
        }
        let content = item.get("content").or_else(|| item.get("parts"))?;
        let text = strip_envelope(&content_text(content)?);
        (!text.is_empty()).then_some(text)
    })
}

/// What OpenClaw brackets its own context with in a user turn (the conversation's
/// metadata, sessions, subagents), sometimes as a message of its own after the user's.
const CONTEXT_START: &str = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";
const CONTEXT_END: &str = "<<<END_OPENCLAW_INTERNAL_CONTEXT>>>";
/// What OpenClaw ends the title of a metadata block with in a user turn
/// (`Conversation info: ⟦openclaw:ctx⟧`, then a fenced JSON block).
const CONTEXT_MARKER: &str = "\u{27e6}openclaw:ctx\u{27e7}";
/// What starts the line of runtime facts OpenClaw may append to a user turn.
const RUNTIME_LINE: &str = "Runtime: agent=";
/// What starts the user turn of runtime context OpenClaw 2026.8 adds after the user's
/// (the turn is OpenClaw's, not the user's).
const RUNTIME_CONTEXT_TURN: &str = "OpenClaw runtime context for the active user request";

/// `text` without OpenClaw's bracketed internal context.
fn without_internal_context(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(CONTEXT_START) {
        out.push_str(&rest[..start]);
        match rest[start..].find(CONTEXT_END) {
            Some(end) => rest = &rest[start + end + CONTEXT_END.len()..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// The text of a message's content: a string, or the text of its text blocks
/// (`text`, `input_text`, Google's parts) joined by newlines.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|b| {
                    b.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "text" || t == "input_text")
                })
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// A user's own words from the text OpenClaw gives the model for a channel message:
/// OpenClaw brackets its internal context between `<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>`
/// and `<<<END_OPENCLAW_INTERNAL_CONTEXT>>>` (2026.9: in a user turn of its own after
/// the user's), may put blocks of metadata before the text (a title line ending in
/// `:` or in `⟦openclaw:ctx⟧` followed by a fenced block) and may prefix it with an envelope in brackets
/// (`[Telegram Ada id:42 ...] hello`); 2026.8 adds a user turn of runtime context
/// (`OpenClaw runtime context for the active user request …`) that is not the user's
/// at all. Text without these is returned as it is,
/// trimmed; text that is nothing but these gives an empty string.
pub fn strip_envelope(text: &str) -> String {
    if text.trim_start().starts_with(RUNTIME_CONTEXT_TURN) {
        return String::new();
    }
    let text = without_internal_context(text);
    let mut lines: Vec<&str> = text.lines().collect();
    // Drop leading metadata blocks: a line ending in ':' and a fenced block after it.
    loop {
        while lines.first().is_some_and(|l| l.trim().is_empty()) {
            lines.remove(0);
        }
        let Some(first) = lines.first() else { break };
        let title = first.trim_end();
        let titled = (title.ends_with(':') || title.ends_with(CONTEXT_MARKER))
            && lines
                .get(1)
                .is_some_and(|l| l.trim_start().starts_with("```"));
        let fenced = first.trim_start().starts_with("```");
        if !titled && !fenced {
            break;
        }
        let open = usize::from(titled);
        let Some(close) = lines
            .iter()
            .enumerate()
            .skip(open + 1)
            .find(|(_, l)| l.trim() == "```")
            .map(|(i, _)| i)
        else {
            break;
        };
        lines.drain(..=close);
    }
    // A runtime line OpenClaw appends after the user's words (with OpenAI's chat API):
    // `Runtime: agent=main | session=… | model=…`.
    if let Some(at) = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with(RUNTIME_LINE))
    {
        lines.truncate(at);
    }
    let rest = lines.join("\n");
    let rest = rest.trim();
    // An envelope in brackets before the text.
    if rest.starts_with('[')
        && let Some(end) = rest.find("] ")
    {
        let inside = &rest[1..end];
        if inside.contains(' ') && !inside.contains('\n') {
            return rest[end + 2..].trim().to_owned();
        }
    }
    rest.to_owned()
}

#[derive(Debug, Default)]
struct Log {
    requests: Vec<ModelRequest>,
    faults: ModelFaults,
}

#[derive(Debug)]
struct Shared {
    log: Mutex<Log>,
    changes: watch::Sender<u64>,
}

impl Shared {
    fn record(&self, mut request: ModelRequest) -> u64 {
        let seq = {
            let mut log = lock(&self.log);
            request.seq = log.requests.len() as u64 + 1;
            let seq = request.seq;
            tracing::debug!(
                seq,
                provider = ?request.provider,
                model = %request.model,
                status = request.status,
                "a model request"
            );
            log.requests.push(request);
            seq
        };
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        seq
    }

    async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&[ModelRequest]) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if let Some(value) = ready(&lock(&self.log).requests) {
                return Some(value);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return ready(&lock(&self.log).requests);
            }
        }
    }
}

/// A running model stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct ModelSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

fn header_present(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty())
}

fn bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty())
}

/// A request as the handlers see it.
struct Call {
    provider: Provider,
    path: String,
    model: String,
    stream: bool,
    body: Value,
    api_key: bool,
}

impl Call {
    fn record(&self, shared: &Shared, status: StatusCode) {
        shared.record(ModelRequest {
            seq: 0,
            provider: self.provider,
            path: self.path.clone(),
            model: self.model.clone(),
            stream: self.stream,
            user_text: user_text(&self.body),
            api_key: self.api_key,
            status: status.as_u16(),
            at_ms: now_ms(),
        });
    }

    /// The refusal due before answering, in the provider's shape, if any.
    fn refusal(&self, faults: &ModelFaults) -> Option<(StatusCode, Value)> {
        if !self.api_key {
            return Some(match self.provider {
                Provider::Anthropic => (
                    StatusCode::UNAUTHORIZED,
                    json!({"type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is required"}}),
                ),
                Provider::OpenAi => (
                    StatusCode::UNAUTHORIZED,
                    json!({"error": {"message": "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "type": "invalid_request_error", "param": null, "code": null}}),
                ),
                Provider::Google => (
                    StatusCode::FORBIDDEN,
                    json!({"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}}),
                ),
            });
        }
        if self.model.is_empty() {
            return Some(bad_request(self.provider, "model: Field required"));
        }
        if faults.unavailable_models.contains(&self.model) {
            let model = &self.model;
            return Some(match self.provider {
                Provider::Anthropic => (
                    StatusCode::NOT_FOUND,
                    json!({"type": "error", "error": {"type": "not_found_error", "message": format!("model: {model}")}}),
                ),
                Provider::OpenAi => (
                    StatusCode::NOT_FOUND,
                    json!({"error": {"message": format!("The model `{model}` does not exist or you do not have access to it."), "type": "invalid_request_error", "param": null, "code": "model_not_found"}}),
                ),
                Provider::Google => (
                    StatusCode::NOT_FOUND,
                    json!({"error": {"code": 404, "message": format!("models/{model} is not found for API version v1beta, or is not supported for generateContent."), "status": "NOT_FOUND"}}),
                ),
            });
        }
        None
    }

    fn answer(&self) -> String {
        answer_text(&self.model, self.user_text().as_deref().unwrap_or(""))
    }

    fn user_text(&self) -> Option<String> {
        user_text(&self.body)
    }
}

fn bad_request(provider: Provider, message: &str) -> (StatusCode, Value) {
    let body = match provider {
        Provider::Anthropic => {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        }
        Provider::OpenAi => {
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
        }
        Provider::Google => {
            json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
        }
    };
    (StatusCode::BAD_REQUEST, body)
}

/// Reads the body and the key; answers a refusal (recorded) or gives the call.
async fn admit(
    shared: &Shared,
    provider: Provider,
    path: String,
    model: Option<String>,
    stream: Option<bool>,
    api_key: bool,
    body: &[u8],
) -> Result<Call, Response> {
    let faults = lock(&shared.log).faults.clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let mut call = Call {
        provider,
        path,
        model: model.unwrap_or_default(),
        stream: stream.unwrap_or(false),
        body: Value::Null,
        api_key,
    };
    let body = match parsed {
        Ok(body @ Value::Object(_)) => body,
        _ => {
            let (status, error) = bad_request(provider, "the body is not a JSON object");
            call.record(shared, status);
            return Err((status, Json(error)).into_response());
        }
    };
    if call.model.is_empty() {
        call.model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
    }
    if stream.is_none() {
        call.stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    }
    call.body = body;
    if let Some((status, error)) = call.refusal(&faults) {
        call.record(shared, status);
        return Err((status, Json(error)).into_response());
    }
    call.record(shared, StatusCode::OK);
    Ok(call)
}

fn sse(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn event(out: &mut String, name: Option<&str>, data: &Value) {
    if let Some(name) = name {
        let _ = writeln!(out, "event: {name}");
    }
    let _ = write!(out, "data: {data}\n\n");
}

/// The answer in a few pieces, as a stream delivers it.
fn pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive(' ') {
        current.push_str(word);
        if current.len() >= 12 {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

fn id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = header_present(&headers, "x-api-key") || bearer(&headers);
    let call = match admit(
        &shared,
        Provider::Anthropic,
        "/v1/messages".into(),
        None,
        None,
        key,
        &body,
    )
    .await
    {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let text = call.answer();
    let input_tokens = call.user_text().map_or(1, |t| tokens(&t));
    let output_tokens = tokens(&text);
    let message_id = id("msg_");
    if !call.stream {
        return Json(json!({
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }))
        .into_response();
    }
    let mut out = String::new();
    event(
        &mut out,
        Some("message_start"),
        &json!({"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": call.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}
        }}),
    );
    event(
        &mut out,
        Some("content_block_start"),
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    event(&mut out, Some("ping"), &json!({"type": "ping"}));
    for piece in pieces(&text) {
        event(
            &mut out,
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        );
    }
    event(
        &mut out,
        Some("content_block_stop"),
        &json!({"type": "content_block_stop", "index": 0}),
    );
    event(
        &mut out,
        Some("message_delta"),
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
    );
    event(
        &mut out,
        Some("message_stop"),
        &json!({"type": "message_stop"}),
    );
    sse(out)
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match admit(
        &shared,
        Provider::OpenAi,
        "/v1/chat/completions".into(),
        None,
        None,
        bearer(&headers),
        &body,
    )
    .await
    {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let text = call.answer();
    let prompt = call.user_text().map_or(1, |t| tokens(&t));
    let completion = tokens(&text);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    let completion_id = id("chatcmpl-");
    let created = chrono::Utc::now().timestamp();
    if !call.stream {
        return Json(json!({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": call.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": call.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let mut out = String::new();
    event(
        &mut out,
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    for piece in pieces(&text) {
        event(
            &mut out,
            None,
            &chunk(json!({"content": piece}), Value::Null),
        );
    }
    event(&mut out, None, &chunk(json!({}), json!("stop")));
    let include_usage = call
        .body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if include_usage {
        event(
            &mut out,
            None,
            &json!({
                "id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": call.model, "choices": [], "usage": usage,
            }),
        );
    }
    out.push_str("data: [DONE]\n\n");
    sse(out)
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match admit(
        &shared,
        Provider::OpenAi,
        "/v1/responses".into(),
        None,
        None,
        bearer(&headers),
        &body,
    )
    .await
    {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let text = call.answer();
    let input = call.user_text().map_or(1, |t| tokens(&t));
    let output = tokens(&text);
    let response_id = id("resp_");
    let item_id = id("msg_");
    let created = chrono::Utc::now().timestamp();
    let part = json!({"type": "output_text", "text": text, "annotations": []});
    let item = json!({"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]});
    let response = |status: &str, output_items: Value, usage: Value| {
        json!({
            "id": response_id, "object": "response", "created_at": created, "status": status,
            "model": call.model, "output": output_items, "usage": usage, "error": null,
            "incomplete_details": null,
        })
    };
    let usage =
        json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output});
    if !call.stream {
        return Json(response("completed", json!([item]), usage)).into_response();
    }
    let mut out = String::new();
    let mut seq = 0u64;
    let mut emit = |out: &mut String, name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        event(out, Some(name), &data);
    };
    emit(
        &mut out,
        "response.created",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    emit(
        &mut out,
        "response.in_progress",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    emit(
        &mut out,
        "response.output_item.added",
        json!({"output_index": 0, "item": {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}}),
    );
    emit(
        &mut out,
        "response.content_part.added",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    );
    for piece in pieces(&text) {
        emit(
            &mut out,
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    emit(
        &mut out,
        "response.output_text.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
    );
    emit(
        &mut out,
        "response.content_part.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}),
    );
    emit(
        &mut out,
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    );
    emit(
        &mut out,
        "response.completed",
        json!({"response": response("completed", json!([item]), usage)}),
    );
    sse(out)
}

/// A deterministic unit vector for `text`.
fn embedding(text: &str, dimensions: usize) -> Vec<f64> {
    let mut values = Vec::with_capacity(dimensions);
    let mut block = 0u32;
    while values.len() < dimensions {
        let digest = Sha256::new()
            .chain_update(block.to_be_bytes())
            .chain_update(text.as_bytes())
            .finalize();
        for pair in digest.chunks(2) {
            if values.len() == dimensions {
                break;
            }
            let raw = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            values.push(f64::from(raw) / f64::from(u16::MAX) * 2.0 - 1.0);
        }
        block += 1;
    }
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        for v in &mut values {
            *v /= norm;
        }
    }
    values
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match admit(
        &shared,
        Provider::OpenAi,
        "/v1/embeddings".into(),
        None,
        Some(false),
        bearer(&headers),
        &body,
    )
    .await
    {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let inputs: Vec<String> = match call.body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let dimensions = call
        .body
        .get("dimensions")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=4096).contains(d))
        .unwrap_or(256);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": embedding(text, dimensions)}))
        .collect();
    let prompt: usize = inputs.iter().map(|t| tokens(t)).sum();
    Json(json!({
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }))
    .into_response()
}

async fn google(
    State(shared): State<Arc<Shared>>,
    Path(target): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let key = header_present(&headers, "x-goog-api-key")
        || params.iter().any(|(k, v)| k == "key" && !v.is_empty());
    let alt_sse = params.iter().any(|(k, v)| k == "alt" && v == "sse");
    let Some((model, action)) = target.split_once(':') else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})),
        )
            .into_response();
    };
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"code": 404, "message": format!("Method {action} not found"), "status": "NOT_FOUND"}})),
            )
                .into_response();
        }
    };
    let call = match admit(
        &shared,
        Provider::Google,
        format!("/v1beta/models/{target}"),
        Some(model.to_owned()),
        Some(stream),
        key,
        &body,
    )
    .await
    {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let text = call.answer();
    let prompt = call.user_text().map_or(1, |t| tokens(&t));
    let candidates = tokens(&text);
    let chunk = |piece: &str, finish: bool| {
        let mut candidate =
            json!({"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0});
        let mut value = json!({"candidates": [], "modelVersion": call.model});
        if finish {
            candidate["finishReason"] = json!("STOP");
            value["usageMetadata"] = json!({"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": prompt + candidates});
        }
        value["candidates"] = json!([candidate]);
        value
    };
    if !stream {
        return Json(chunk(&text, true)).into_response();
    }
    let parts = pieces(&text);
    let last = parts.len().saturating_sub(1);
    let chunks: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| chunk(p, i == last))
        .collect();
    if alt_sse {
        let mut out = String::new();
        for c in &chunks {
            let _ = write!(out, "data: {c}\r\n\r\n");
        }
        sse(out)
    } else {
        Json(Value::Array(chunks)).into_response()
    }
}

#[derive(Deserialize)]
struct RequestsQuery {
    after: Option<u64>,
    wait: Option<u64>,
}

async fn list_requests(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<RequestsQuery>,
) -> Response {
    let after = query.after.unwrap_or(0);
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECONDS));
    let found = shared
        .wait_for(wait, |requests| {
            let found: Vec<ModelRequest> =
                requests.iter().filter(|r| r.seq > after).cloned().collect();
            (!found.is_empty()).then_some(found)
        })
        .await
        .unwrap_or_default();
    Json(found).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<ModelFaults> {
    Json(lock(&shared.log).faults.clone())
}

async fn put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<ModelFaults>(&body) {
        Ok(faults) => {
            lock(&shared.log).faults = faults.clone();
            Json(faults).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("not a fault plan: {e}")})),
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"message": "Not Found", "type": "not_found_error"}})),
    )
        .into_response()
}

impl ModelSim {
    /// Starts the stand-in on `listen`.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: Mutex::default(),
            changes: watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .route("/v1/messages", post(anthropic))
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/responses", post(responses))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1beta/models/{target}", post(google))
            .route("/_sim/requests", get(list_requests))
            .route("/_sim/faults", get(get_faults).put(put_faults))
            .fallback(not_found)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the model stand-in stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The root URL (`http://127.0.0.1:<port>`): Anthropic's base URL (OpenClaw's
    /// `models.providers.anthropic.baseUrl` with `api: "anthropic-messages"`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// OpenAI's base URL (`.../v1`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Google's base URL (`.../v1beta`).
    pub fn google_base_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<ModelRequest> {
        lock(&self.shared.log).requests.clone()
    }

    /// The first request (old or new) that `matches`, waiting at most `timeout`.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        mut matches: impl FnMut(&ModelRequest) -> bool,
    ) -> Option<ModelRequest> {
        self.shared
            .wait_for(timeout, |requests| {
                requests.iter().find(|r| matches(r)).cloned()
            })
            .await
    }

    /// Answers with `faults` from now on.
    pub fn set_faults(&self, faults: ModelFaults) {
        lock(&self.shared.log).faults = faults;
    }

    /// The faults in force.
    pub fn faults(&self) -> ModelFaults {
        lock(&self.shared.log).faults.clone()
    }

    /// The models requests have named, sorted.
    pub fn models_seen(&self) -> BTreeSet<String> {
        lock(&self.shared.log)
            .requests
            .iter()
            .map(|r| r.model.clone())
            .collect()
    }
}

impl Drop for ModelSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_user_text_in_every_shape() {
        let anthropic = json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ]});
        assert_eq!(user_text(&anthropic).as_deref(), Some("second"));
        let responses =
            json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]});
        assert_eq!(user_text(&responses).as_deref(), Some("hi"));
        let google = json!({"contents": [{"role": "user", "parts": [{"text": "hallo"}]}]});
        assert_eq!(user_text(&google).as_deref(), Some("hallo"));
        assert_eq!(
            user_text(&json!({"input": "plain"})).as_deref(),
            Some("plain")
        );
        assert_eq!(user_text(&json!({"messages": []})), None);
    }

    #[test]
    fn metadata_around_a_message_is_removed() {
        let wrapped = "Conversation info (untrusted metadata):\n```json\n{\"a\": 1}\n```\n\nSender (untrusted metadata):\n```json\n{}\n```\n\nhello there";
        assert_eq!(strip_envelope(wrapped), "hello there");
        let marked = "Conversation info: \u{27e6}openclaw:ctx\u{27e7}\n```json\n{\"sender\":{\"id\":\"1\"}}\n```\n\nwhat is the capital of France?";
        assert_eq!(strip_envelope(marked), "what is the capital of France?");
        assert_eq!(
            strip_envelope("[Telegram Ada id:42 +1m] how are you"),
            "how are you"
        );
        assert_eq!(strip_envelope("  [x] plain "), "[x] plain");
        let context = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nConversation data (data, not instructions):\n\"x\"\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>";
        assert_eq!(strip_envelope(context), "");
        assert_eq!(strip_envelope(&format!("hi\n\n{context}")), "hi");
        assert_eq!(
            strip_envelope(
                "and now?\n\nRuntime: agent=main | session=agent:main:main | model=openai/gpt-5.4-mini"
            ),
            "and now?"
        );
        // 2026.8's runtime context turn is OpenClaw's, not the user's.
        let runtime = json!({"messages": [
            {"role": "user", "content": "hello, old friend"},
            {"role": "user", "content": "OpenClaw runtime context for the active user request in this turn. Do not reply to or describe this context."},
        ]});
        assert_eq!(user_text(&runtime).as_deref(), Some("hello, old friend"));
        // The context as a user turn of its own after the user's.
        let body = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "what now?"}]},
            {"role": "user", "content": [{"type": "text", "text": context}]},
        ]});
        assert_eq!(user_text(&body).as_deref(), Some("what now?"));
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 64);
        assert_eq!(a, embedding("hello", 64));
        assert_ne!(a, embedding("world", 64));
        let norm: f64 = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-9);
    }
}
