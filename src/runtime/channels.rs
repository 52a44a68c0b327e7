//! The Telegram channel's own account of itself: `openclaw channels status --json`, run
//! in the machine when the gateway lives but is not ready, tells a token Telegram
//! refuses (401) from another poller on the same token (409) from anything else.

use serde::Deserialize;
use serde_json::Value;

use super::machine::cli;

/// Longest error text kept from the channel's report.
const ERROR_LIMIT: usize = 300;

/// The command that asks the running gateway for its channels' state.
pub fn status_command() -> Vec<String> {
    cli(&["channels", "status", "--json"])
}

/// What keeps the Telegram channel from working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelTrouble {
    /// Telegram refuses the bot's token (401: revoked in BotFather, or mistyped).
    TokenRejected(String),
    /// Another program polls updates with the same token (409).
    Conflict(String),
    /// Something else, in the channel's words.
    Other(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    connected: Option<bool>,
    #[serde(default)]
    running: Option<bool>,
}

/// What the Telegram channel's report says is wrong; `None` when it reports no error
/// (or names no Telegram account), `Err` when the output is not such a report.
pub fn trouble(output: &str) -> Result<Option<ChannelTrouble>, String> {
    let report: Value = serde_json::from_str(output.trim())
        .map_err(|e| format!("the channel status is not JSON: {e}"))?;
    let accounts = report
        .pointer("/channelAccounts/telegram")
        .cloned()
        .unwrap_or(Value::Null);
    let accounts: Vec<Account> = serde_json::from_value(accounts).unwrap_or_default();
    let fallback = report
        .pointer("/channels/telegram/lastError")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let error = accounts
        .iter()
        .filter(|a| a.connected != Some(true) || a.running == Some(false))
        .find_map(|a| a.last_error.clone())
        .or(fallback);
    Ok(error.map(|text| classify(&redact(&text))))
}

/// Which trouble an error text names.
fn classify(text: &str) -> ChannelTrouble {
    let lower = text.to_ascii_lowercase();
    if lower.contains("401") || lower.contains("unauthorized") {
        ChannelTrouble::TokenRejected(text.to_owned())
    } else if lower.contains("409") || lower.contains("conflict: terminated by other getupdates") {
        ChannelTrouble::Conflict(text.to_owned())
    } else {
        ChannelTrouble::Other(text.to_owned())
    }
}

/// The text without anything shaped like a bot token (`<digits>:<35 characters>`), as
/// a URL of the Bot API would carry it, and clipped.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(colon) = rest.find(':') {
        let head = &rest[..colon];
        let digits = head.chars().rev().take_while(char::is_ascii_digit).count();
        let tail = &rest[colon + 1..];
        let secret = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .count();
        if digits >= 5 && secret >= 20 {
            out.push_str(&head[..head.len() - digits]);
            out.push_str("<token>");
            rest = &tail[secret..];
        } else {
            out.push_str(&rest[..=colon]);
            rest = tail;
        }
    }
    out.push_str(rest);
    out.chars().take(ERROR_LIMIT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(error: Option<&str>, connected: bool) -> String {
        serde_json::json!({
            "channels": { "telegram": { "configured": true, "running": true, "lastError": error } },
            "channelAccounts": { "telegram": [ {
                "accountId": "default", "running": true, "connected": connected,
                "lastError": error, "tokenSource": "env"
            } ] }
        })
        .to_string()
    }

    #[test]
    fn the_channels_error_names_the_trouble() {
        assert_eq!(
            trouble(&report(
                Some("Call to 'deleteWebhook' failed! (401: Unauthorized)"),
                false
            )),
            Ok(Some(ChannelTrouble::TokenRejected(
                "Call to 'deleteWebhook' failed! (401: Unauthorized)".to_owned()
            )))
        );
        let conflict = "Telegram getUpdates conflict: Conflict: terminated by other getUpdates request; make sure that only one bot instance is running.";
        assert!(matches!(
            trouble(&report(Some(conflict), false)),
            Ok(Some(ChannelTrouble::Conflict(_)))
        ));
        assert!(matches!(
            trouble(&report(Some("fetch failed: ECONNREFUSED"), false)),
            Ok(Some(ChannelTrouble::Other(_)))
        ));
        assert_eq!(trouble(&report(None, true)), Ok(None));
        assert_eq!(trouble("{}"), Ok(None));
        assert!(trouble("Gateway not reachable").is_err());
    }

    #[test]
    fn a_token_in_the_error_is_never_kept() {
        let token = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";
        let text = format!("request to https://api.telegram.org/bot{token}/getMe failed");
        let redacted = redact(&text);
        assert!(!redacted.contains("AAHfiqks"), "{redacted}");
        assert_eq!(
            redacted,
            "request to https://api.telegram.org/bot<token>/getMe failed"
        );
        assert_eq!(redact("at 12:30: ok"), "at 12:30: ok");
        assert_eq!(redact(&"x".repeat(1000)).len(), ERROR_LIMIT);
    }
}
