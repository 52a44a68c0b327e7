use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A Fly.io region code: three lowercase letters, such as `lax`, `iad` or `lhr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// The region used when a request or an Instance names none.
    pub const DEFAULT: &'static str = "lax";
    /// The pattern every region code matches.
    pub const PATTERN: &'static str = "^[a-z]{3}$";

    /// Parses a region code.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if value.len() == 3 && value.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(Self(value))
        } else {
            Err(InvalidValue::new(
                "Region must be a Fly.io region code of three lowercase letters, such as \"lax\"",
            ))
        }
    }

    /// The region code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Region {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl TryFrom<String> for Region {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.0
    }
}

impl JsonSchema for Region {
    fn schema_name() -> Cow<'static, str> {
        "Region".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": Self::PATTERN })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_three_lowercase_letters() {
        for code in ["lax", "iad", "lhr", "syd", "sin"] {
            assert_eq!(Region::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn rejects_other_shapes() {
        for code in ["", "la", "laxx", "LAX", "la1", "lá"] {
            assert!(Region::parse(code).is_err(), "{code:?} was accepted");
        }
    }

    #[test]
    fn defaults_to_lax() {
        assert_eq!(Region::default().as_str(), "lax");
    }
}
