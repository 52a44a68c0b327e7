use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The name a customer gives an instance: 1 to 50 characters, not only whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// The fewest characters a name may have.
    pub const MIN_CHARS: usize = 1;
    /// The most characters a name may have.
    pub const MAX_CHARS: usize = 50;

    /// Parses a name, counting characters (Unicode scalar values) as Kubernetes does.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let chars = value.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(InvalidValue::new("Name is required"));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "Name must be {} characters or less (got {chars})",
                Self::MAX_CHARS
            )));
        }
        if value.trim().is_empty() {
            return Err(InvalidValue::new("Name must not be only whitespace"));
        }
        super::refuse_control_characters(&value, "Name")?;
        Ok(Self(value))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

impl JsonSchema for DisplayName {
    fn schema_name() -> Cow<'static, str> {
        "DisplayName".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": Self::MIN_CHARS,
            "maxLength": Self::MAX_CHARS,
            "pattern": super::PRINTABLE_TEXT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_fifty_characters() {
        assert!(DisplayName::parse("a").is_ok());
        assert!(DisplayName::parse("a".repeat(50)).is_ok());
        assert!(
            DisplayName::parse("é".repeat(50)).is_ok(),
            "counts characters, not bytes"
        );
    }

    #[test]
    fn rejects_empty_and_fifty_one_characters() {
        assert_eq!(
            DisplayName::parse("").unwrap_err().message(),
            "Name is required"
        );
        let long = DisplayName::parse("a".repeat(51)).unwrap_err();
        assert!(long.message().contains("50 characters or less"), "{long}");
    }

    #[test]
    fn rejects_only_whitespace() {
        assert!(DisplayName::parse("   ").is_err());
    }

    #[test]
    fn deserializes_through_the_same_rule() {
        let err = serde_json::from_str::<DisplayName>(&format!("\"{}\"", "x".repeat(51)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("50 characters or less"), "{err}");
    }
}
