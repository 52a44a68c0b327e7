//! One cause of an `Invalid` error, as the API server lists them in a `Status`.

/// One cause of an `Invalid` error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: &'static str,
    /// The message for that field.
    pub message: String,
    /// The field's path, such as `spec.displayName`.
    pub field: String,
}

impl Cause {
    /// A cause.
    pub fn new(reason: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            field: field.into(),
        }
    }
}
