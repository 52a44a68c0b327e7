//! Durations as Fly's machine config writes them: Go's `time.Duration` strings
//! (`"30s"`, `"1m30s"`, `"500ms"`, `"1.5h"`), or a bare number of seconds.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}")]
pub struct DurationError(pub String);

/// Parses a Go duration string (units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; several may
/// follow each other, each with an optional fraction) or a bare number of seconds.
/// Negative durations are refused.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError(text.to_owned());
    let text = text.trim();
    if text.is_empty() || text.starts_with('-') {
        return Err(error());
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if let Ok(seconds) = body.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| error());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        if number_len == 0 {
            return Err(error());
        }
        let value: f64 = rest[..number_len].parse().map_err(|_| error())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(error()),
        };
        total += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total / 1e9).map_err(|_| error())
}

/// A duration from a JSON value: a Go duration string or a number of seconds.
pub fn from_json(value: &serde_json::Value) -> Result<Duration, DurationError> {
    match value {
        serde_json::Value::String(text) => parse(text),
        serde_json::Value::Number(n) => n
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| DurationError(n.to_string())),
        other => Err(DurationError(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2h3m4s5ms"), Ok(Duration::from_millis(7_384_005)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn refused() {
        for bad in ["", "s", "-1s", "1x", "1.2.3s", "m5"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_values() {
        assert_eq!(
            from_json(&serde_json::json!("15s")),
            Ok(Duration::from_secs(15))
        );
        assert_eq!(from_json(&serde_json::json!(2)), Ok(Duration::from_secs(2)));
        assert!(from_json(&serde_json::json!(null)).is_err());
    }
}
