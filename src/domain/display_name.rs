use super::InvalidValue;

string_type! {
    /// The name a customer gives an instance: 1 to 50 characters, not only whitespace.
    pub struct DisplayName(String);
    /// The name as text.
    fn as_str;
    schema: {
        "type": "string",
        "minLength": Self::MIN_CHARS,
        "maxLength": Self::MAX_CHARS,
        "pattern": super::PRINTABLE_TEXT,
    }
}

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
