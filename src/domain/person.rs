use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::InvalidValue;

string_type! {
    /// A person's name as they give it at sign-up or in their profile: 1 to 100 characters.
    pub struct PersonName(String);
    /// The name as text.
    fn as_str;
    schema: {
        "type": "string",
        "minLength": 1,
        "maxLength": Self::MAX_CHARS,
        "pattern": super::PRINTABLE_TEXT,
    }
}

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
}

string_type! {
    /// A password someone types. `Debug` prints nothing of it.
    ///
    /// [`Password::new_password`] applies the rule for a new password (8 to 1024
    /// characters); a password given to log in is taken as it is. It serializes as the
    /// password itself: only request bodies, which the typed client sends, carry it.
    #[derive(Clone)]
    pub struct Password(SecretString);
    parsed by given;
    serialized by expose;
    schema: {
        "type": "string",
        "format": "password",
        "maxLength": Self::MAX_CHARS,
        "writeOnly": true,
    }
}

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

string_type! {
    /// A new password: 8 to 1024 characters. `Debug` prints nothing of it. It serializes
    /// as the password itself, for the typed client's requests.
    #[derive(Clone, Debug)]
    pub struct NewPassword(Password);
    parsed by parse;
    serialized by expose;
    schema: {
        "type": "string",
        "format": "password",
        "minLength": Password::MIN_CHARS,
        "maxLength": Password::MAX_CHARS,
        "writeOnly": true,
    }
}

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
