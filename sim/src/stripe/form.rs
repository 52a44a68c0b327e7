//! Stripe's request parameters: form-encoded bodies and query strings whose keys use
//! brackets for structure (`metadata[userId]=...`, `line_items[0][price]=...`).

use std::collections::BTreeMap;

/// The parameters of one request, by their full bracketed key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a body or a query string).
    pub fn parse(text: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The hash under `prefix` (`metadata` gives `metadata[a]=1` as `{a: 1}`).
    pub fn hash(&self, prefix: &str) -> BTreeMap<String, String> {
        let start = format!("{prefix}[");
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&start)?.strip_suffix(']')?;
                (!rest.contains('[')).then(|| (rest.to_owned(), v.clone()))
            })
            .collect()
    }

    /// Whether any parameter starts with `prefix`.
    pub fn has(&self, prefix: &str) -> bool {
        self.0
            .keys()
            .any(|k| k == prefix || k.starts_with(&format!("{prefix}[")))
    }

    /// Every key, for reporting the unknown ones.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The request's fingerprint, for idempotency.
    pub fn fingerprint(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_nest() {
        let params = Params::parse(
            b"mode=subscription&line_items[0][price]=price_1&line_items[0][quantity]=1&metadata[userId]=u1&metadata[plan]=pro&subscription_data[metadata][userId]=u1",
        );
        assert_eq!(params.get("line_items[0][price]"), Some("price_1"));
        assert_eq!(
            params.hash("metadata"),
            BTreeMap::from([
                ("plan".to_owned(), "pro".to_owned()),
                ("userId".to_owned(), "u1".to_owned())
            ])
        );
        assert_eq!(params.hash("subscription_data[metadata]").len(), 1);
        assert!(params.has("line_items"));
        assert!(!params.has("customer"));
    }

    #[test]
    fn percent_encoding_is_decoded() {
        let params = Params::parse(b"success_url=https%3A%2F%2Fapp.example.com%2Fdone%3Fok%3Dtrue&email=a%2Bb%40example.com");
        assert_eq!(
            params.get("success_url"),
            Some("https://app.example.com/done?ok=true")
        );
        assert_eq!(params.get("email"), Some("a+b@example.com"));
    }
}
