use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::InvalidValue;

/// A person's name as they give it at sign-up or in their profile: 1 to 100 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    /// The most characters a name may have.
    pub const MAX_CHARS: usize = 100;

    /// Parses a name.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 || value.trim().is_empty() {
            return Err(InvalidValue::new("Name is required"));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "Name must be {} characters or less",
                Self::MAX_CHARS
            )));
        }
        super::refuse_control_characters(&value, "Name")?;
        Ok(Self(value))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PersonName {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<PersonName> for String {
    fn from(value: PersonName) -> Self {
        value.0
    }
}

impl JsonSchema for PersonName {
    fn schema_name() -> Cow<'static, str> {
        "PersonName".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": Self::MAX_CHARS,
            "pattern": super::PRINTABLE_TEXT,
        })
    }
}

/// A password someone types. `Debug` prints nothing of it.
///
/// [`Password::new_password`] applies the rule for a new password (8 to 1024
/// characters); a password given to log in is taken as it is.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// The fewest characters a new password may have.
    pub const MIN_CHARS: usize = 8;
    /// The most characters any password may have, which bounds hashing work.
    pub const MAX_CHARS: usize = 1024;

    /// Takes a password as given, for logging in or confirming.
    pub fn given(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = SecretString::from(value.into());
        if value.expose_secret().chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "Password must be {} characters or less",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(value))
    }

    /// The password itself, for hashing or verifying.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::given(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Serializes the password itself: only request bodies, which the typed client sends,
/// carry it.
impl Serialize for Password {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl JsonSchema for Password {
    fn schema_name() -> Cow<'static, str> {
        "Password".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "password",
            "maxLength": Self::MAX_CHARS,
            "writeOnly": true,
        })
    }
}

/// A new password: 8 to 1024 characters. `Debug` prints nothing of it.
#[derive(Clone, Debug)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Parses a new password.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let password = Password::given(value)?;
        if password.expose().chars().count() < Password::MIN_CHARS {
            return Err(InvalidValue::new(format!(
                "Password must be at least {} characters",
                Password::MIN_CHARS
            )));
        }
        Ok(Self(password))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl<'de> Deserialize<'de> for NewPassword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Serializes the password itself, for the typed client's requests.
impl Serialize for NewPassword {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl JsonSchema for NewPassword {
    fn schema_name() -> Cow<'static, str> {
        "NewPassword".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "password",
            "minLength": Password::MIN_CHARS,
            "maxLength": Password::MAX_CHARS,
            "writeOnly": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_names_are_one_to_one_hundred_characters() {
        assert!(PersonName::parse("A").is_ok());
        assert!(PersonName::parse("a".repeat(100)).is_ok());
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("a".repeat(101)).is_err());
    }

    #[test]
    fn new_passwords_are_eight_to_1024_characters() {
        assert!(NewPassword::parse("a".repeat(7)).is_err());
        assert!(NewPassword::parse("a".repeat(8)).is_ok());
        assert!(NewPassword::parse("a".repeat(1024)).is_ok());
        assert!(NewPassword::parse("a".repeat(1025)).is_err());
    }

    #[test]
    fn login_passwords_may_be_empty_and_never_print() {
        let password = Password::given("").unwrap();
        assert_eq!(password.expose(), "");
        let secret = Password::given("hunter2hunter2").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        let new = NewPassword::parse("hunter2hunter2").unwrap();
        assert!(!format!("{new:?}").contains("hunter2"));
    }
}
