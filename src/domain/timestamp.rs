use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, written as JavaScript's `Date.toISOString()` writes it
/// (`2026-01-31T09:15:00.000Z`), which is what the web app parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("not an ISO 8601 timestamp: {e}")))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn writes_what_javascript_writes() {
        let t = Timestamp(Utc.with_ymd_and_hms(2026, 1, 31, 9, 15, 0).unwrap());
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-01-31T09:15:00.000Z\""
        );
    }

    #[test]
    fn reads_rfc3339_and_refuses_other_text() {
        let t: Timestamp = serde_json::from_str("\"2026-01-31T10:15:00+01:00\"").unwrap();
        assert_eq!(t.0, Utc.with_ymd_and_hms(2026, 1, 31, 9, 15, 0).unwrap());
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
