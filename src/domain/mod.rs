//! Validated values shared by the Instance custom resource and the facade contract.
//!
//! Each type parses its input once ("parse, don't validate") and describes its own
//! constraints as a JSON schema, so the Kubernetes API server, the OpenAPI document and
//! the Rust code all enforce the same rule from one definition. The string types are
//! declared with `string_type!`, which gives each the same serde and schema impls.

#[macro_use]
mod string_type;

mod ai_model;
mod display_name;
mod email;
mod error;
mod legacy_id;
mod person;
mod plan;
mod region;
mod telegram_token;
mod timestamp;

pub use ai_model::{AiModel, AiProvider};
pub use display_name::DisplayName;
pub use email::EmailAddress;
pub use error::InvalidValue;
pub use legacy_id::{
    LegacyKind, ORIGINAL_APP_NAME_PATTERN, imported_id, is_legacy_id, parse_original_app_name,
};
pub use person::{NewPassword, Password, PersonName};
pub use plan::Plan;
pub use region::Region;
pub use telegram_token::{TelegramBotToken, mask_token};
pub use timestamp::Timestamp;

/// The pattern of free text people type (names): at least one character that is not
/// whitespace, and no control characters (which no name needs and Postgres cannot store
/// in text, as with NUL). Written so that ECMAScript, Go (the Kubernetes API server) and
/// Rust read it alike.
pub const PRINTABLE_TEXT: &str =
    r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

/// Marks every property of an object's schema as required: a response always carries
/// each field, with `null` where there is no value, as the web app expects.
pub fn require_every_property(schema: &mut schemars::Schema) {
    let names: Vec<serde_json::Value> = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|properties| properties.keys().cloned().map(Into::into).collect())
        .unwrap_or_default();
    schema.insert("required".to_owned(), names.into());
}

/// Refuses control characters in text people type, naming `what`.
fn refuse_control_characters(value: &str, what: &str) -> Result<(), InvalidValue> {
    if value.chars().any(char::is_control) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod schema_agreement {
    //! The Kubernetes API server and OpenAPI clients enforce the JSON schemas; the Rust
    //! code enforces `parse`. These tests show both accept exactly the same values.

    use regex::Regex;
    use schemars::JsonSchema;

    use super::*;

    /// Whether `value` satisfies the string schema of `T` (pattern and lengths).
    fn schema_accepts<T: JsonSchema>(value: &str) -> bool {
        let schema = schemars::schema_for!(T);
        let chars = value.chars().count() as u64;
        let min = schema
            .get("minLength")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let max = schema
            .get("maxLength")
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::MAX);
        let pattern = schema
            .get("pattern")
            .and_then(|v| v.as_str())
            .map(|p| Regex::new(p).expect("schema patterns compile"));
        chars >= min && chars <= max && pattern.is_none_or(|p| p.is_match(value))
    }

    const SAMPLES: &[&str] = &[
        "",
        " ",
        "a",
        "lax",
        "LAX",
        "laxx",
        "gpt-5.4-mini",
        "gpt-",
        "o1-mini",
        "claude-sonnet-5",
        "gemini-2.5-flash",
        "llama-3",
        "claude-a/b",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsa",
        "12345678a:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "123456789AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw!",
        "nul\u{0}inside",
        "tab\there",
        "\u{85}next line",
        "ünïcödé ✓",
    ];

    fn long_samples() -> Vec<String> {
        [39, 40, 49, 50, 51, 99, 100, 101]
            .into_iter()
            .flat_map(|n| {
                [
                    "x".repeat(n),
                    format!("gpt-{}", "a".repeat(n.saturating_sub(4))),
                    format!("1:{}", "A".repeat(n.saturating_sub(2))),
                ]
            })
            .collect()
    }

    fn check<T: JsonSchema>(parse: impl Fn(&str) -> bool) {
        let long = long_samples();
        for value in SAMPLES
            .iter()
            .copied()
            .chain(long.iter().map(String::as_str))
        {
            assert_eq!(
                schema_accepts::<T>(value),
                parse(value),
                "schema and parse disagree on {value:?} for {}",
                T::schema_name()
            );
        }
    }

    #[test]
    fn display_name() {
        check::<DisplayName>(|v| DisplayName::parse(v).is_ok());
    }

    #[test]
    fn region() {
        check::<Region>(|v| Region::parse(v).is_ok());
    }

    #[test]
    fn ai_model() {
        check::<AiModel>(|v| AiModel::parse(v).is_ok());
    }

    #[test]
    fn telegram_bot_token() {
        check::<TelegramBotToken>(|v| TelegramBotToken::parse(v).is_ok());
    }

    #[test]
    fn person_name() {
        check::<PersonName>(|v| PersonName::parse(v).is_ok());
    }
}
