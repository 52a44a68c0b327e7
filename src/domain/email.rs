use super::InvalidValue;

string_type! {
    /// An email address: `local@domain`, no whitespace, at most 254 characters.
    ///
    /// Comparison is as written; the store compares addresses case-insensitively.
    pub struct EmailAddress(String);
    /// The address as text.
    fn as_str;
    schema: { "type": "string", "format": "email", "maxLength": Self::MAX_CHARS }
}

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
