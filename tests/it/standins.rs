//! The Telegram Bot API stand-in and the model stand-in: over raw HTTP as their clients
//! call them, then in front of a real OpenClaw gateway (the pinned npm package on
//! Node.js), which must answer a Telegram user with a model's words.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fasterclaw_sim::models::{ModelFaults, ModelSim, Provider, answer_text};
use fasterclaw_sim::telegram::{ChatMessage, SERVED_METHODS, TelegramSim, User, token_digest};
use serde_json::{Value, json};

const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const BOT: &str = "claw_test_bot";

async fn telegram() -> TelegramSim {
    fasterclaw::tls::install_crypto_provider();
    let sim = TelegramSim::start(([127, 0, 0, 1], 0).into(), false)
        .await
        .expect("the Telegram stand-in starts");
    sim.add_bot(TOKEN, BOT, "Claw");
    sim
}

async fn models() -> ModelSim {
    fasterclaw::tls::install_crypto_provider();
    ModelSim::start(([127, 0, 0, 1], 0).into())
        .await
        .expect("the model stand-in starts")
}

fn method_url(sim: &TelegramSim, token: &str, method: &str) -> String {
    format!("{}/bot{token}/{method}", sim.base_url())
}

/// Calls a bot method with a JSON body; the status and Telegram's envelope.
async fn call(sim: &TelegramSim, method: &str, params: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(method_url(sim, TOKEN, method))
        .json(&params)
        .send()
        .await
        .expect("the stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON envelope"))
}

fn ada() -> User {
    User::new(424_242, "Ada").with_username("ada")
}

#[tokio::test]
async fn telegram_long_polling_with_offsets_and_limits() {
    let sim = telegram().await;
    let registered = chrono::Utc::now().timestamp();
    let (status, empty) = call(&sim, "getUpdates", json!({"timeout": 0})).await;
    assert_eq!((status, &empty), (200, &json!({"ok": true, "result": []})));

    // A waiting poll is answered as soon as the user writes.
    let url = method_url(&sim, TOKEN, "getUpdates");
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let body: Value = reqwest::Client::new()
            .get(format!("{url}?timeout=20"))
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("JSON");
        (started.elapsed(), body)
    });
    assert!(
        sim.wait_for_calls(BOT, "getupdates", 2, Duration::from_secs(5))
            .await
    );
    let first = sim
        .send_user_message(BOT, &ada(), "hello")
        .expect("the message is posted");
    let (elapsed, body) = waiting.await.expect("the poll ends");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let update = &body["result"][0];
    assert_eq!(update["update_id"], json!(first.update_id));
    assert!(
        (registered - 5..=registered + 5 + 99 * 1_000_000).contains(&first.update_id),
        "update ids start at the time the bot was registered: {}",
        first.update_id
    );
    assert_eq!(update["message"]["text"], "hello");
    assert_eq!(update["message"]["chat"]["type"], "private");
    assert_eq!(update["message"]["chat"]["id"], 424_242);
    assert_eq!(update["message"]["from"]["username"], "ada");
    assert_eq!(update["message"]["message_id"], json!(first.message_id));

    // Unconfirmed updates come again; limit and offset page through them.
    for text in ["two", "three", "four"] {
        sim.send_user_message(BOT, &ada(), text).expect("posted");
    }
    assert_eq!(sim.pending_updates(BOT).len(), 4);
    let (_, page) = call(
        &sim,
        "getUpdates",
        json!({"offset": first.update_id + 1, "limit": 2}),
    )
    .await;
    let texts: Vec<&str> = page["result"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| u["message"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["two", "three"]);
    assert_eq!(sim.pending_updates(BOT).len(), 3, "the first is confirmed");
    let (_, last) = call(&sim, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(last["result"][0]["message"]["text"], "four");
    let last_id = last["result"][0]["update_id"]
        .as_i64()
        .expect("an update id");
    let (_, none) = call(
        &sim,
        "getUpdates",
        json!({"offset": last_id + 1, "timeout": 0}),
    )
    .await;
    assert_eq!(none["result"], json!([]));
    assert!(sim.pending_updates(BOT).is_empty());

    // allowed_updates without "message" filters messages out.
    sim.send_user_message(BOT, &ada(), "filtered")
        .expect("posted");
    let (_, filtered) = call(
        &sim,
        "getUpdates",
        json!({"allowed_updates": ["callback_query"], "timeout": 0}),
    )
    .await;
    assert_eq!(filtered["result"], json!([]));
}

#[tokio::test]
async fn telegram_a_second_poller_ends_the_waiting_one_with_409() {
    let sim = telegram().await;
    let url = method_url(&sim, TOKEN, "getUpdates");
    let first = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", FORM)
            .body(form(&[("timeout", "30")]))
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    });
    assert!(
        sim.wait_for_calls(BOT, "getUpdates", 1, Duration::from_secs(5))
            .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, second) = call(&sim, "getUpdates", json!({"timeout": 1})).await;
    assert_eq!((status, &second["result"]), (200, &json!([])));
    let (status, conflict) = first.await.expect("the first poll ends");
    assert_eq!(status, 409);
    assert_eq!(
        conflict,
        json!({"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})
    );
}

#[tokio::test]
async fn telegram_tokens_methods_and_chats() {
    let sim = telegram().await;
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.expect("answered");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let unknown = "999:unknown";
    assert_eq!(
        get(method_url(&sim, unknown, "noSuchMethod")).await,
        (
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
        ),
        "the token is checked before the method"
    );
    assert_eq!(get(method_url(&sim, "not-a-token", "getMe")).await.0, 401);
    assert_eq!(
        get(method_url(&sim, TOKEN, "noSuchMethod")).await,
        (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"})
        )
    );
    let (status, me) = get(method_url(&sim, TOKEN, "GETME")).await;
    assert_eq!(status, 200);
    assert_eq!(me["result"]["username"], BOT);
    assert_eq!(me["result"]["id"], 110_201_543);
    assert_eq!(me["result"]["is_bot"], true);
    let (status, webhook) = call(&sim, "setWebhook", json!({"url": "https://example.com"})).await;
    assert_eq!((status, webhook["ok"].clone()), (404, json!(false)));
    assert_eq!(
        call(&sim, "deleteWebhook", json!({})).await.1["result"],
        true
    );
    assert_eq!(
        call(&sim, "getWebhookInfo", json!({})).await.1["result"]["url"],
        ""
    );

    let (status, refused) = call(
        &sim,
        "sendMessage",
        json!({"chat_id": 424_242, "text": "hi"}),
    )
    .await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"})
        ),
        "a bot cannot write first"
    );
    let posted = sim
        .send_user_message("@claw_test_bot", &ada(), "hi")
        .expect("posted by username");
    assert_eq!(posted.chat_id, 424_242);
    assert_eq!(
        call(&sim, "getChat", json!({"chat_id": 424_242})).await.1["result"]["first_name"],
        "Ada"
    );
    assert_eq!(call(&sim, "getChat", json!({"chat_id": 5})).await.0, 400);
    assert!(sim.send_user_message("nobody_bot", &ada(), "hi").is_err());
    assert!(sim.methods(BOT).iter().any(|m| m == "getMe"));
    assert!(sim.methods(BOT).iter().any(|m| m == "noSuchMethod"));
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form-encoded body.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A `multipart/form-data` body of text fields.
fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "----standin-boundary-7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn telegram_parameters_in_json_form_multipart_and_query() {
    let sim = telegram().await;
    let client = reqwest::Client::new();
    let posted = sim.send_user_message(TOKEN, &ada(), "hi").expect("posted");
    let url = method_url(&sim, TOKEN, "sendMessage");

    let reply = {
        let sim = &sim;
        async move {
            sim.wait_for_reply(BOT, 424_242, posted.message_id, Duration::from_secs(5))
                .await
        }
    };
    let (answer, _) = tokio::join!(
        reply,
        call(
            &sim,
            "sendMessage",
            json!({"chat_id": 424_242, "text": "<b>bold</b> &amp; json", "parse_mode": "HTML"}),
        )
    );
    let answer = answer.expect("the reply is seen");
    assert_eq!(answer.message_id, posted.message_id + 1, "one sequence");
    assert_eq!(answer.plain_text(), "bold & json");

    let by_form = client
        .post(&url)
        .header("content-type", FORM)
        .body(form(&[("chat_id", "424242"), ("text", "form")]))
        .send()
        .await
        .expect("answered");
    assert_eq!(by_form.status().as_u16(), 200);
    let (content_type, body) = multipart(&[("chat_id", "424242"), ("text", "multipart")]);
    let multi = client
        .post(&url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(multi.status().as_u16(), 200);
    let query: Value = client
        .get(format!("{url}?chat_id=424242&text=query"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(query["result"]["text"], "query");
    assert_eq!(query["result"]["from"]["is_bot"], true);
    let texts: Vec<String> = sim
        .sent(BOT, Some(424_242))
        .iter()
        .map(ChatMessage::plain_text)
        .collect();
    assert_eq!(texts, ["bold & json", "form", "multipart", "query"]);

    // Editing, deleting, reacting, commands.
    let id = sim.sent(BOT, None)[1].message_id;
    let (status, edited) = call(
        &sim,
        "editMessageText",
        json!({"chat_id": 424_242, "message_id": id, "text": "form, edited"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(edited["result"]["text"], "form, edited");
    assert_eq!(
        call(
            &sim,
            "editMessageText",
            json!({"chat_id": 424_242, "message_id": id, "text": "form, edited"}),
        )
        .await
        .0,
        400,
        "an edit that changes nothing"
    );
    assert!(sim.sent(BOT, None)[1].edit_date.is_some());
    for (method, params) in [
        (
            "sendChatAction",
            json!({"chat_id": 424_242, "action": "typing"}),
        ),
        (
            "setMessageReaction",
            json!({"chat_id": 424_242, "message_id": posted.message_id, "reaction": [{"type": "emoji", "emoji": "👍"}]}),
        ),
        (
            "deleteMessage",
            json!({"chat_id": 424_242, "message_id": id}),
        ),
        ("answerCallbackQuery", json!({"callback_query_id": "1"})),
    ] {
        let (status, body) = call(&sim, method, params).await;
        assert_eq!(
            (status, body["result"].clone()),
            (200, json!(true)),
            "{method}"
        );
    }
    assert_eq!(
        call(
            &sim,
            "deleteMessage",
            json!({"chat_id": 424_242, "message_id": id})
        )
        .await
        .0,
        400
    );
    let commands = r#"[{"command":"new","description":"Start over"}]"#;
    let set = client
        .post(method_url(&sim, TOKEN, "setMyCommands"))
        .header("content-type", FORM)
        .body(form(&[("commands", commands)]))
        .send()
        .await
        .expect("answered");
    assert_eq!(set.status().as_u16(), 200);
    assert_eq!(
        call(&sim, "getMyCommands", json!({})).await.1["result"][0]["command"],
        "new"
    );
    call(&sim, "deleteMyCommands", json!({})).await;
    assert_eq!(
        call(&sim, "getMyCommands", json!({})).await.1["result"],
        json!([])
    );
    let conversation = sim.conversation(BOT, 424_242);
    assert_eq!(
        conversation.len(),
        4,
        "the user's message and three of the bot's"
    );
    assert!(!conversation[0].from_bot);
}

#[tokio::test]
async fn telegram_control_api_and_chat_page() {
    fasterclaw::tls::install_crypto_provider();
    let sim = TelegramSim::start(([127, 0, 0, 1], 0).into(), false)
        .await
        .expect("starts");
    let client = reqwest::Client::new();
    let base = sim.base_url();
    let registered = client
        .post(format!("{base}/_sim/bots"))
        .json(&json!({"token": TOKEN, "username": "evil<b>_bot", "first_name": "Claw"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(registered.status().as_u16(), 204);
    let listing = client
        .get(format!("{base}/_sim/bots"))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(!listing.contains(TOKEN), "{listing}");
    assert!(listing.contains(&token_digest(TOKEN)), "{listing}");

    let bot = "evil%3Cb%3E_bot";
    let posted: Value = client
        .post(format!("{base}/_sim/bots/{bot}/messages"))
        .json(&json!({"from": {"id": 7, "first_name": "Eve", "username": "eve"}, "text": "hello"}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(posted["chat_id"], 7);
    let message_id = posted["message_id"].as_i64().expect("an id");

    // A held-open `sent` returns once the bot writes.
    let url = format!("{base}/_sim/bots/{bot}/sent?chat_id=7&after={message_id}&wait=10");
    let waiting = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .expect("answered")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    call(
        &sim,
        "sendMessage",
        json!({"chat_id": 7, "text": "<script>alert(1)</script> reply"}),
    )
    .await;
    let sent = waiting.await.expect("ends");
    assert_eq!(sent[0]["text"], "<script>alert(1)</script> reply");
    let chat: Value = client
        .get(format!("{base}/_sim/bots/{bot}/chats/7"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(chat["messages"].as_array().map(Vec::len), Some(2));
    let calls: Value = client
        .get(format!("{base}/_sim/bots/{bot}/calls"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(calls, json!(["sendMessage"]));

    // The page: a person writes, the log shows it escaped.
    let page = client
        .get(sim.chat_url())
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("evil&lt;b&gt;_bot") && !page.contains("evil<b>"),
        "{page}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let sent = no_redirects
        .post(sim.chat_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("bot=evil%3Cb%3E_bot&user_id=7&name=%3Ci%3EEve&username=&text=%3Cimg+src%3Dx%3E+hi")
        .send()
        .await
        .expect("answered");
    assert_eq!(sent.status().as_u16(), 303);
    let log = client
        .get(format!("{base}/chat/log?bot=evil%3Cb%3E_bot&chat_id=7"))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(
        log.contains("http-equiv=\"refresh\" content=\"2\""),
        "{log}"
    );
    assert!(log.contains("&lt;img src=x&gt; hi"), "{log}");
    assert!(
        log.contains("&lt;script&gt;alert(1)&lt;/script&gt; reply"),
        "{log}"
    );
    assert!(
        !log.contains("<script>") && !log.contains("<img") && !log.contains("<i>"),
        "{log}"
    );
    assert_eq!(
        sim.conversation(BOT, 7).len(),
        0,
        "the bot is named evil<b>_bot"
    );
    assert_eq!(sim.conversation("evil<b>_bot", 7).len(), 3);
}

#[tokio::test]
async fn telegram_accept_any_stores_a_bot_on_first_use() {
    fasterclaw::tls::install_crypto_provider();
    let sim = TelegramSim::start(([127, 0, 0, 1], 0).into(), true)
        .await
        .expect("starts");
    let me: Value = reqwest::get(method_url(&sim, "4242:secret", "getMe"))
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["result"]["username"], "bot4242_bot");
    assert!(sim.send_user_message("bot4242_bot", &ada(), "hi").is_ok());
    assert_eq!(sim.calls(), 1);
}

/// Server-sent events: (event name, data) pairs.
fn events(body: &str) -> Vec<(String, String)> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_owned();
                }
            }
            (name, data)
        })
        .collect()
}

fn data(event: &(String, String)) -> Value {
    serde_json::from_str(&event.1).expect("JSON data")
}

async fn post(url: String, headers: &[(&str, &str)], body: Value) -> (u16, String) {
    let mut request = reqwest::Client::new().post(url).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

const KEY: &str = "sk-test-never-recorded-5f2a";

#[tokio::test]
async fn models_anthropic_messages_streamed_and_not() {
    let sim = models().await;
    let url = format!("{}/v1/messages", sim.base_url());
    let headers = [("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
    let body = json!({"model": "claude-sonnet-5", "max_tokens": 100, "system": "be brief",
        "messages": [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"},
                     {"role": "user", "content": [{"type": "text", "text": "hello there"}]}]});
    let expected = answer_text("claude-sonnet-5", "hello there");
    let (status, text) = post(url.clone(), &headers, body.clone()).await;
    assert_eq!(status, 200, "{text}");
    let message: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(message["content"][0]["text"], json!(expected));
    assert_eq!(message["stop_reason"], "end_turn");

    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (status, text) = post(url, &headers, streamed).await;
    assert_eq!(status, 200);
    let events = events(&text);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.0.as_str())
        .filter(|n| *n != "ping" && *n != "content_block_delta")
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let joined: String = events
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(|e| data(e)["delta"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(joined, expected);
    let recorded = sim.requests();
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|r| r.provider == Provider::Anthropic
        && r.api_key
        && r.status == 200
        && r.user_text.as_deref() == Some("hello there")));
    assert_eq!((recorded[0].stream, recorded[1].stream), (false, true));
}

#[tokio::test]
async fn models_openai_chat_responses_and_embeddings() {
    let sim = models().await;
    let base = sim.openai_base_url();
    let auth = format!("Bearer {KEY}");
    let headers = [("authorization", auth.as_str())];
    let expected = answer_text("gpt-5", "hi");
    let chat = json!({"model": "gpt-5", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
    let (status, text) = post(format!("{base}/chat/completions"), &headers, chat.clone()).await;
    assert_eq!(status, 200, "{text}");
    let completion: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        json!(expected)
    );
    let mut streamed = chat;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (_, text) = post(format!("{base}/chat/completions"), &headers, streamed).await;
    let chunk_events = events(&text);
    assert_eq!(chunk_events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = chunk_events[..chunk_events.len() - 1]
        .iter()
        .map(data)
        .collect();
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(joined, expected);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    assert!(
        chunks
            .last()
            .is_some_and(|c| c["usage"]["total_tokens"].is_u64())
    );

    let input = json!({"model": "gpt-5", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]});
    let (status, text) = post(format!("{base}/responses"), &headers, input.clone()).await;
    assert_eq!(status, 200, "{text}");
    let response: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"][0]["content"][0]["text"], json!(expected));
    let mut streamed = input;
    streamed["stream"] = json!(true);
    let (_, text) = post(format!("{base}/responses"), &headers, streamed).await;
    let response_events = events(&text);
    assert_eq!(
        response_events.first().map(|e| e.0.as_str()),
        Some("response.created")
    );
    assert_eq!(
        response_events.last().map(|e| e.0.as_str()),
        Some("response.completed")
    );
    let joined: String = response_events
        .iter()
        .filter(|e| e.0 == "response.output_text.delta")
        .map(|e| data(e)["delta"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(joined, expected);

    let (status, text) = post(
        format!("{base}/embeddings"),
        &headers,
        json!({"model": "text-embedding-3-small", "input": ["a", "b", "a"], "dimensions": 16}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let vectors: Value = serde_json::from_str(&text).expect("JSON");
    let vector = |i: usize| -> Vec<f64> {
        vectors["data"][i]["embedding"]
            .as_array()
            .expect("a vector")
            .iter()
            .filter_map(Value::as_f64)
            .collect()
    };
    assert_eq!(vector(0).len(), 16);
    assert_eq!(vector(0), vector(2));
    assert_ne!(vector(0), vector(1));
    let norm: f64 = vector(1).iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-9, "{norm}");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.provider == Provider::OpenAi && r.api_key)
    );
}

#[tokio::test]
async fn models_google_generate_content_streamed_and_not() {
    let sim = models().await;
    let base = sim.google_base_url();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hallo"}]}]});
    let expected = answer_text("gemini-2.5-pro", "hallo");
    let (status, text) = post(
        format!("{base}/models/gemini-2.5-pro:generateContent"),
        &[("x-goog-api-key", KEY)],
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        answer["candidates"][0]["content"]["parts"][0]["text"],
        json!(expected)
    );
    let (status, text) = post(
        format!("{base}/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key={KEY}"),
        &[],
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let chunks: Vec<Value> = events(&text).iter().map(data).collect();
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(joined, expected);
    assert_eq!(
        chunks
            .last()
            .map(|c| c["candidates"][0]["finishReason"].clone()),
        Some(json!("STOP"))
    );
    let (_, text) = post(
        format!("{base}/models/gemini-2.5-pro:streamGenerateContent"),
        &[("x-goog-api-key", KEY)],
        body,
    )
    .await;
    let array: Value = serde_json::from_str(&text).expect("a JSON array");
    assert!(array.as_array().is_some_and(|a| !a.is_empty()));
    let recorded = sim.requests();
    assert!(
        recorded
            .iter()
            .all(|r| r.model == "gemini-2.5-pro" && r.provider == Provider::Google)
    );
    assert_eq!(recorded.iter().filter(|r| r.stream).count(), 2);
}

#[tokio::test]
async fn models_refusals_faults_and_the_request_log() {
    let sim = models().await;
    let anthropic = format!("{}/v1/messages", sim.base_url());
    let openai = format!("{}/chat/completions", sim.openai_base_url());
    let google = format!(
        "{}/models/gemini-2.5-pro:generateContent",
        sim.google_base_url()
    );
    let chat = json!({"model": "m1", "messages": [{"role": "user", "content": "hi"}]});
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});

    let (status, text) = post(anthropic.clone(), &[], chat.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["error"]["type"],
        "authentication_error"
    );
    let (status, text) = post(openai.clone(), &[], chat.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["error"]["type"],
        "invalid_request_error"
    );
    let (status, text) = post(google.clone(), &[], contents.clone()).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["error"]["status"],
        "PERMISSION_DENIED"
    );

    // Faults over HTTP.
    let client = reqwest::Client::new();
    let faults_url = format!("{}/_sim/faults", sim.base_url());
    let put = client
        .put(&faults_url)
        .json(&json!({"unavailable_models": ["m1", "gemini-2.5-pro"], "latency_ms": 300}))
        .send()
        .await
        .expect("answered");
    assert_eq!(put.status().as_u16(), 200);
    let faults: ModelFaults = client
        .get(&faults_url)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(faults.latency_ms, 300);
    assert_eq!(sim.faults(), faults);
    let started = Instant::now();
    let (status, text) = post(anthropic.clone(), &[("x-api-key", KEY)], chat.clone()).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["error"]["type"],
        "not_found_error"
    );
    let auth = format!("Bearer {KEY}");
    let (status, text) = post(openai, &[("authorization", &auth)], chat.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON")["error"]["code"],
        "model_not_found"
    );
    let (status, _) = post(google, &[("x-goog-api-key", KEY)], contents).await;
    assert_eq!(status, 404);
    sim.set_faults(ModelFaults::default());
    let mut other = chat;
    other["model"] = json!("m2");
    assert_eq!(post(anthropic, &[("x-api-key", KEY)], other).await.0, 200);

    // The log: every request, with its status, and never a key.
    let recorded = sim.requests();
    let statuses: Vec<u16> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 403, 404, 404, 404, 200]);
    assert_eq!(
        recorded.iter().map(|r| r.api_key).collect::<Vec<_>>(),
        [false, false, false, true, true, true, true]
    );
    let log = client
        .get(format!("{}/_sim/requests?after=5", sim.base_url()))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(!log.contains(KEY), "{log}");
    let later: Value = serde_json::from_str(&log).expect("JSON");
    assert_eq!(later.as_array().map(Vec::len), Some(2));
    assert_eq!(later[1]["model"], "m2");
    assert_eq!(later[1]["provider"], "anthropic");
    let url = format!("{}/_sim/requests?after=7&wait=10", sim.base_url());
    let waiting = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .expect("answered")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let embeddings = format!("{}/embeddings", sim.openai_base_url());
    post(
        embeddings,
        &[("authorization", &auth)],
        json!({"model": "e", "input": "x"}),
    )
    .await;
    let arrived = waiting.await.expect("ends");
    assert_eq!(arrived[0]["seq"], 8);
    assert!(
        sim.wait_for_request(Duration::from_secs(1), |r| r.model == "e")
            .await
            .is_some()
    );
}

// The real gateway in front of both stand-ins.

const HOW_TO_RUN: &str = "set FASTERCLAW_NODE (a Node.js 24 binary) and FASTERCLAW_OPENCLAW (the openclaw package directory holding openclaw.mjs), or run ./scripts/test, which installs them";
const MODEL: &str = "claude-sonnet-5";
const GATEWAY_TOKEN: &str = "gateway-token-for-the-standins-test-0123456789";
const ANTHROPIC_KEY: &str = "sk-ant-test-key-that-must-not-be-recorded";

/// A gateway run: its process group and every other group a process carrying its
/// state directory started are killed when it drops.
struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    node: PathBuf,
    package: PathBuf,
}

fn openclaw_paths() -> (PathBuf, PathBuf) {
    let node = std::env::var_os("FASTERCLAW_NODE").expect(HOW_TO_RUN);
    let package = std::env::var_os("FASTERCLAW_OPENCLAW").expect(HOW_TO_RUN);
    let (node, package) = (PathBuf::from(node), PathBuf::from(package));
    assert!(
        node.is_file(),
        "FASTERCLAW_NODE is not a file: {}",
        node.display()
    );
    assert!(
        package.join("openclaw.mjs").is_file(),
        "FASTERCLAW_OPENCLAW holds no openclaw.mjs: {}",
        package.display()
    );
    (node, package)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Gateway {
    fn start(telegram: &TelegramSim, models: &ModelSim, telegram_config: Value) -> Self {
        let (node, package) = openclaw_paths();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let mut telegram_config = telegram_config;
        telegram_config["enabled"] = json!(true);
        telegram_config["apiRoot"] = json!(telegram.base_url());
        let config = json!({
            "gateway": {"mode": "local", "port": port, "bind": "lan"},
            "agents": {"defaults": {"model": {"primary": format!("anthropic/{MODEL}")}}},
            "models": {"providers": {"anthropic": {"baseUrl": models.base_url(), "api": "anthropic-messages"}}},
            "channels": {"telegram": telegram_config},
            "logging": {"file": dir.path().join("openclaw.log")},
        });
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("the state directory");
        std::fs::write(state.join("openclaw.json"), config.to_string()).expect("the config");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("the bin directory");
        std::os::unix::fs::symlink(&node, bin.join("node")).expect("the node link");
        Self {
            child: Self::command(&node, &package, dir.path())
                .args(["gateway", "--bind", "lan", "--port", &port.to_string()])
                .stdout(file(dir.path(), "gateway.out"))
                .stderr(file(dir.path(), "gateway.err"))
                .spawn()
                .expect("the gateway starts"),
            dir,
            node,
            package,
        }
    }

    fn command(node: &Path, package: &Path, dir: &Path) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(node);
        command
            .arg(package.join("openclaw.mjs"))
            .current_dir(dir)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", dir.join("bin").display()),
            )
            .env("HOME", dir)
            .env("OPENCLAW_STATE_DIR", dir.join("state"))
            .env("OPENCLAW_GATEWAY_TOKEN", GATEWAY_TOKEN)
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .stdin(Stdio::null())
            .process_group(0);
        command
    }

    /// Runs `openclaw <args>` with the gateway's environment; its exit status and output.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let output = Self::command(&self.node, &self.package, self.dir.path())
            .args(args)
            .output()
            .expect("the CLI runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// The ends of its logs, for a failure's message.
    fn logs(&self) -> String {
        ["gateway.out", "gateway.err", "openclaw.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                // The file log is JSON lines: their messages are enough.
                let lines: Vec<String> = text
                    .lines()
                    .map(|line| {
                        serde_json::from_str::<Value>(line)
                            .ok()
                            .and_then(|v| v["message"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| line.to_owned())
                    })
                    .collect();
                format!(
                    "--- {name}\n{}",
                    lines[lines.len().saturating_sub(30)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until the gateway long-polls Telegram.
    async fn wait_polling(&self, telegram: &TelegramSim) {
        assert!(
            telegram
                .wait_for_calls(BOT, "getUpdates", 1, Duration::from_secs(200))
                .await,
            "the gateway did not poll Telegram in 200 s; Telegram saw {:?}\n{}",
            telegram.methods(BOT),
            self.logs()
        );
    }

    /// The process groups to end: the gateway's, and those of any process carrying its
    /// state directory in its environment (the spawn-broker starts a group of its own).
    fn groups(&self) -> Vec<i32> {
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| pgid(&s));
        let marker = format!(
            "OPENCLAW_STATE_DIR={}",
            self.dir.path().join("state").display()
        );
        let mut groups: Vec<i32> = i32::try_from(self.child.id()).into_iter().collect();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(environ) = std::fs::read(path.join("environ")) else {
                continue;
            };
            if !environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
                continue;
            }
            if let Some(group) = std::fs::read_to_string(path.join("stat"))
                .ok()
                .and_then(|s| pgid(&s))
                && Some(group) != own
                && group > 1
                && !groups.contains(&group)
            {
                groups.push(group);
            }
        }
        groups
    }
}

/// The process group in a `/proc/<pid>/stat` line.
fn pgid(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

fn file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("a log file")
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for group in self.groups() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a message from the bot in `chat_id` whose text contains `needle`.
async fn reply_containing(
    telegram: &TelegramSim,
    chat_id: i64,
    needle: &str,
    timeout: Duration,
) -> Option<ChatMessage> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = telegram
            .sent(BOT, Some(chat_id))
            .into_iter()
            .find(|m| m.plain_text().contains(needle))
        {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn gateway_answers_an_allowed_user_and_ignores_a_stranger() {
    let telegram = telegram().await;
    let models = models().await;
    let gateway = Gateway::start(
        &telegram,
        &models,
        json!({"dmPolicy": "allowlist", "allowFrom": ["424242"]}),
    );
    gateway.wait_polling(&telegram).await;

    let stranger = User::new(777_001, "Mallory");
    telegram
        .send_user_message(BOT, &stranger, "let me in")
        .expect("posted");
    let text = "what is the capital of France?";
    telegram
        .send_user_message(BOT, &ada(), text)
        .expect("posted");
    let Some(reply) = reply_containing(&telegram, 424_242, MODEL, Duration::from_secs(180)).await
    else {
        panic!(
            "no answer from the model in 180 s; the bot sent {:?}; the model saw {:?}\n{}",
            telegram.sent(BOT, None),
            models.requests(),
            gateway.logs()
        );
    };
    let expected = answer_text(MODEL, text);
    assert!(
        reply.plain_text().contains(&expected),
        "{:?} does not hold {expected:?}; the model saw {:?}",
        reply.plain_text(),
        models.requests()
    );
    let asked = models
        .requests()
        .into_iter()
        .find(|r| r.model == MODEL && r.user_text.as_deref() == Some(text));
    assert!(
        asked
            .as_ref()
            .is_some_and(|r| r.api_key && r.stream && r.provider == Provider::Anthropic),
        "{asked:?}"
    );

    // The stranger's message came first and was dropped without a word.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        telegram.sent(BOT, Some(777_001)).is_empty(),
        "{:?}",
        telegram.sent(BOT, Some(777_001))
    );
    let called = telegram.methods(BOT);
    assert!(
        called
            .iter()
            .all(|m| SERVED_METHODS.contains(&m.as_str()) && m != "setWebhook"),
        "the gateway called {called:?}"
    );
    let recorded = serde_json::to_string(&models.requests()).expect("JSON");
    assert!(!recorded.contains(ANTHROPIC_KEY) && !recorded.contains(TOKEN));
    drop(gateway);
}

#[tokio::test]
async fn gateway_pairs_a_stranger_after_approval() {
    let telegram = telegram().await;
    let models = models().await;
    let gateway = Gateway::start(&telegram, &models, json!({"dmPolicy": "pairing"}));
    gateway.wait_polling(&telegram).await;

    let stranger = User::new(777_002, "Grace").with_username("grace");
    telegram
        .send_user_message(BOT, &stranger, "hello?")
        .expect("posted");
    let code_pattern = regex::Regex::new(r"\b[A-HJ-NP-Z2-9]{8}\b").expect("a pattern");
    let deadline = Instant::now() + Duration::from_secs(120);
    let code = loop {
        let sent = telegram.sent(BOT, Some(777_002));
        let codes: Vec<String> = sent
            .iter()
            .flat_map(|m| {
                let text = m.plain_text();
                code_pattern
                    .find_iter(&text)
                    .map(|c| c.as_str().to_owned())
                    .filter(|c| c != "TELEGRAM")
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Some(code) = codes.first() {
            break code.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no pairing code in 120 s; the bot sent {sent:?}\n{}",
            gateway.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        !models.requests().iter().any(|r| r.model == MODEL),
        "a stranger does not reach the model before approval"
    );
    let (approved, output) = gateway.cli(&["pairing", "approve", "telegram", &code]);
    assert!(approved, "pairing approve {code} failed: {output}");
    assert!(output.contains("777002"), "{output}");

    let last = telegram
        .conversation(BOT, 777_002)
        .last()
        .map_or(0, |m| m.message_id);
    let text = "may I now?";
    telegram
        .send_user_message(BOT, &stranger, text)
        .expect("posted");
    let Some(reply) = reply_containing(&telegram, 777_002, MODEL, Duration::from_secs(180)).await
    else {
        panic!(
            "no answer after approval in 180 s; the bot sent {:?}; the model saw {:?}\n{}",
            telegram.sent(BOT, None),
            models.requests(),
            gateway.logs()
        );
    };
    assert!(reply.message_id > last);
    assert!(
        reply.plain_text().contains(&answer_text(MODEL, text)),
        "{:?}",
        reply.plain_text()
    );
    drop(gateway);
}

/// The Google stand-in's endpoints, called as a client of Google's would: discovery,
/// keys, the authorization endpoint's answers, the token endpoint's checks (client,
/// PKCE, single-use codes) with Google's error bodies, and userinfo.
#[tokio::test]
async fn google_endpoints_answer_as_googles() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use fasterclaw_sim::google::{GoogleSim, GoogleSimConfig, GoogleUser};
    use sha2::Digest as _;

    fasterclaw::tls::install_crypto_provider();
    let google = GoogleSim::start(
        GoogleSimConfig::new("client-1.apps.googleusercontent.com", "secret-1"),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let base = google.issuer();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |url: String| http.get(url).send();

    let discovery: Value = get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], base);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{base}/o/oauth2/v2/auth")
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let keys: Value = get(discovery["jwks_uri"].as_str().unwrap().to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &keys["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );

    let verifier = "a".repeat(43) + "-verifier";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let authorize = |client: &str, response_type: &str| {
        format!(
            "{base}/o/oauth2/v2/auth?client_id={client}&redirect_uri=http://app.test/cb&response_type={response_type}&scope=openid%20email&state=s1&nonce=n1&code_challenge={challenge}&code_challenge_method=S256"
        )
    };
    // An unknown client gets Google's error page, never a redirect.
    let unknown = get(authorize("nobody", "code")).await.unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("invalid_client"));
    // No account signed in: the account page.
    let page = get(authorize("client-1.apps.googleusercontent.com", "code"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Choose an account"));
    // A faulty request redirects back with the error and the state.
    let implicit = get(authorize("client-1.apps.googleusercontent.com", "token"))
        .await
        .unwrap();
    assert_eq!(implicit.status(), 302);
    assert_eq!(
        implicit.headers()["location"],
        "http://app.test/cb?error=unsupported_response_type&state=s1"
    );

    google.add_user(GoogleUser::verified(
        "1001",
        "ada@example.com",
        "Ada Lovelace",
    ));
    google.sign_in_as("1001");
    let code = || async {
        let granted = get(authorize("client-1.apps.googleusercontent.com", "code"))
            .await
            .unwrap();
        assert_eq!(granted.status(), 302);
        let location = url::Url::parse(granted.headers()["location"].to_str().unwrap()).unwrap();
        let params: std::collections::HashMap<String, String> =
            location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s1");
        params["code"].clone()
    };
    let exchange = |code: String, secret: &'static str, verifier: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .post(format!("{base}/token"))
                .basic_auth("client-1.apps.googleusercontent.com", Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "http://app.test/cb"),
                    ("code_verifier", &verifier),
                ]))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let first = code().await;
    assert_eq!(
        exchange(first.clone(), "wrong", verifier.clone()).await,
        (
            401,
            json!({ "error": "invalid_client", "error_description": "Unauthorized" })
        )
    );
    let bad_grant = json!({ "error": "invalid_grant", "error_description": "Bad Request" });
    assert_eq!(
        exchange(first.clone(), "secret-1", "b".repeat(43)).await,
        (400, bad_grant.clone()),
        "a verifier that is not the challenge's"
    );
    assert_eq!(
        exchange(first, "secret-1", verifier.clone()).await,
        (400, bad_grant.clone()),
        "the code was spent by the failed exchange"
    );
    let second = code().await;
    let (status, tokens) = exchange(second.clone(), "secret-1", verifier.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (header["alg"].as_str(), &header["kid"]),
        (Some("RS256"), &key["kid"])
    );
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &claims["iss"],
            &claims["aud"],
            &claims["nonce"],
            &claims["email_verified"]
        ),
        (
            &json!(base),
            &json!("client-1.apps.googleusercontent.com"),
            &json!("n1"),
            &json!(true)
        )
    );
    assert_eq!(
        exchange(second, "secret-1", verifier).await,
        (400, bad_grant),
        "a code is used once"
    );

    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = http
        .get(format!("{base}/v1/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&me["sub"], &me["email"], &me["name"]),
        (
            &json!("1001"),
            &json!("ada@example.com"),
            &json!("Ada Lovelace")
        )
    );
    let stranger = http
        .get(format!("{base}/v1/userinfo"))
        .bearer_auth("ya29.not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
}
