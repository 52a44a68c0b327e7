use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// An email address: `local@domain`, no whitespace, at most 254 characters.
///
/// Comparison is as written; the store compares addresses case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The most characters an address may have (RFC 5321's path limit).
    pub const MAX_CHARS: usize = 254;

    /// Parses an address.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let invalid = || InvalidValue::new("Invalid email address");
        let bad_char = |c: char| c.is_whitespace() || c.is_control();
        if value.chars().count() > Self::MAX_CHARS || value.chars().any(bad_char) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.split('.').count() >= 2 && domain.split('.').all(|l| !l.is_empty());
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl JsonSchema for EmailAddress {
    fn schema_name() -> Cow<'static, str> {
        "EmailAddress".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "email", "maxLength": Self::MAX_CHARS })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for address in ["a@b.co", "First.Last+tag@example.com"] {
            assert!(EmailAddress::parse(address).is_ok(), "{address}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for address in ["", "plain", "@example.com", "a@", "a@b", "a@b.", "a b@c.de"] {
            assert!(EmailAddress::parse(address).is_err(), "{address:?}");
        }
    }

    #[test]
    fn bounds_the_length_at_254() {
        let at_bound = format!("{}@example.com", "a".repeat(254 - 12));
        assert_eq!(at_bound.len(), 254);
        assert!(EmailAddress::parse(at_bound.clone()).is_ok());
        assert!(EmailAddress::parse(format!("a{at_bound}")).is_err());
    }
}
