use std::fmt;

/// A value from outside that does not meet its type's rule.
///
/// The message is written for the person who sent the value: it names what is wrong
/// and what would be accepted, and never repeats a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidValue {
    message: String,
}

impl InvalidValue {
    /// An error with a message for the sender of the value.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message for the sender of the value.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
