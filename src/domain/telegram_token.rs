use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::InvalidValue;

string_type! {
    /// A Telegram bot token, as BotFather hands it out: `<bot id digits>:<secret>`.
    ///
    /// The value is held in a [`SecretString`]: `Debug` prints nothing of it, and the only
    /// ways to read it are [`TelegramBotToken::expose`] and [`TelegramBotToken::masked`].
    /// It serializes as the token itself: only request bodies carry this type (the typed
    /// client sends it); responses carry the masked form.
    #[derive(Clone)]
    pub struct TelegramBotToken(SecretString);
    parsed by parse;
    serialized by expose;
    schema: {
        "type": "string",
        "minLength": Self::MIN_CHARS,
        "maxLength": Self::MAX_CHARS,
        "pattern": Self::PATTERN,
        "writeOnly": true,
    }
}

impl TelegramBotToken {
    /// The fewest characters a token may have.
    pub const MIN_CHARS: usize = 40;
    /// The most characters a token may have.
    pub const MAX_CHARS: usize = 100;
    /// The pattern every token matches.
    pub const PATTERN: &'static str = "^[0-9]+:[A-Za-z0-9_-]+$";

    /// Parses a token. The error never contains the token.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = SecretString::from(value.into());
        let text = value.expose_secret();
        let chars = text.chars().count();
        if chars == 0 {
            return Err(InvalidValue::new("Telegram bot token is required"));
        }
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(InvalidValue::new(format!(
                "Telegram bot token must be {} to {} characters (got {chars})",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        if !Self::has_token_shape(text) {
            return Err(InvalidValue::new(
                "Telegram bot token must look like <digits>:<token>, as BotFather gives it",
            ));
        }
        Ok(Self(value))
    }

    /// Whether `text` has a token's shape, `<digits>:<letters, digits, _ or ->`, whatever
    /// its length (the original system stored tokens without checking their length).
    pub fn has_token_shape(text: &str) -> bool {
        text.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
    }

    /// The token itself, for the few places that must send it (Fly app secrets, Telegram).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The token as responses show it: see [`mask_token`].
    pub fn masked(&self) -> String {
        mask_token(self.expose()).unwrap_or_default()
    }
}

/// Masks a token for display, as the original web app expects: nothing for an empty
/// token, `***` for one of 14 characters or fewer, otherwise the first 10 characters,
/// `...` and the last 4.
pub fn mask_token(token: &str) -> Option<String> {
    const HEAD: usize = 10;
    const TAIL: usize = 4;
    let chars: Vec<char> = token.chars().collect();
    match chars.len() {
        0 => None,
        n if n <= HEAD + TAIL => Some("***".to_owned()),
        n => {
            let head: String = chars[..HEAD].iter().collect();
            let tail: String = chars[n - TAIL..].iter().collect();
            Some(format!("{head}...{tail}"))
        }
    }
}

impl fmt::Debug for TelegramBotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TelegramBotToken([REDACTED])")
    }
}

impl PartialEq for TelegramBotToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for TelegramBotToken {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed token of exactly `len` characters.
    fn token_of_len(len: usize) -> String {
        let id = "123456789:";
        format!("{id}{}", "A".repeat(len - id.len()))
    }

    #[test]
    fn accepts_forty_to_one_hundred_characters() {
        assert!(TelegramBotToken::parse(token_of_len(40)).is_ok());
        assert!(TelegramBotToken::parse(token_of_len(100)).is_ok());
    }

    #[test]
    fn rejects_thirty_nine_and_one_hundred_one_characters() {
        assert!(TelegramBotToken::parse(token_of_len(39)).is_err());
        assert!(TelegramBotToken::parse(token_of_len(101)).is_err());
        assert_eq!(
            TelegramBotToken::parse("").unwrap_err().message(),
            "Telegram bot token is required"
        );
    }

    #[test]
    fn rejects_tokens_not_of_the_form_digits_colon_secret() {
        let secret = "A".repeat(40);
        for bad in [
            secret.clone(),
            format!("12a:{secret}"),
            format!(":{secret}"),
            format!("123456789{secret}:"),
            format!("123:{}/x", "A".repeat(40)),
            format!("123:{} x", "A".repeat(40)),
        ] {
            assert!(
                TelegramBotToken::parse(bad.clone()).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn never_shows_the_token_in_errors_or_debug() {
        let token = token_of_len(45);
        let parsed = TelegramBotToken::parse(token.clone()).unwrap();
        assert!(!format!("{parsed:?}").contains(&token[11..]));
        let bad = format!("{token}!");
        let err = TelegramBotToken::parse(bad.clone()).unwrap_err();
        assert!(!err.message().contains(&token[11..]), "{err}");
    }

    #[test]
    fn masks_null_short_and_normal_tokens() {
        assert_eq!(mask_token(""), None);
        assert_eq!(mask_token("abc"), Some("***".to_owned()));
        assert_eq!(mask_token("12345678901234"), Some("***".to_owned()));
        assert_eq!(
            mask_token("123456789012345"),
            Some("1234567890...2345".to_owned())
        );
        let token = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        assert_eq!(mask_token(token), Some("110201543:...Dsaw".to_owned()));
        assert_eq!(
            TelegramBotToken::parse(token).unwrap().masked(),
            "110201543:...Dsaw"
        );
    }
}
