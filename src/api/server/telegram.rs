//! Checking a Telegram bot token with Telegram's `getMe`: always an answer, never an
//! error of the request.

use std::time::Duration;

use serde::Deserialize;

use crate::api::contract::ValidateTelegramTokenResponse;
use crate::domain::TelegramBotToken;

/// A client of the Bot API's `getMe`.
#[derive(Clone, Debug)]
pub struct Telegram {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    result: Option<Bot>,
}

#[derive(Deserialize)]
struct Bot {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
}

impl Telegram {
    /// A client of the Bot API at `base` (`https://api.telegram.org`), waiting at most
    /// `timeout` for an answer.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("fasterclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the Telegram client: {e}"))?;
        let base = base.trim_end_matches('/').to_owned();
        url::Url::parse(&base).map_err(|e| format!("TELEGRAM_API_URL is not a URL: {e}"))?;
        Ok(Self { http, base })
    }

    /// Whether Telegram accepts `token`, with the bot's names when it does.
    pub async fn check(&self, token: &str) -> ValidateTelegramTokenResponse {
        let invalid = |error: String| ValidateTelegramTokenResponse {
            valid: false,
            bot_username: None,
            bot_name: None,
            error: Some(error),
        };
        // Only a token of a token's shape reaches the URL: anything else could not name
        // a bot, and could change the path or the query.
        if !TelegramBotToken::has_token_shape(token) || token.len() > TelegramBotToken::MAX_CHARS {
            return invalid("Invalid bot token".to_owned());
        }
        let answer = self
            .http
            .get(format!("{}/bot{token}/getMe", self.base))
            .send()
            .await;
        let Ok(response) = answer else {
            return invalid("Failed to connect to Telegram API".to_owned());
        };
        match response.json::<Envelope>().await {
            Ok(Envelope {
                ok: true,
                result: Some(bot),
                ..
            }) => ValidateTelegramTokenResponse {
                valid: true,
                bot_username: bot.username,
                bot_name: bot.first_name,
                error: None,
            },
            Ok(envelope) => invalid(
                envelope
                    .description
                    .unwrap_or_else(|| "Invalid bot token".to_owned()),
            ),
            Err(_) => invalid("Failed to connect to Telegram API".to_owned()),
        }
    }
}
