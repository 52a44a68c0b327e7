use super::InvalidValue;

string_type! {
    /// A Fly.io region code: three lowercase letters, such as `lax`, `iad` or `lhr`.
    pub struct Region(String);
    /// The region code as text.
    fn as_str;
    schema: { "type": "string", "pattern": Self::PATTERN }
}

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
}

impl Default for Region {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
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
