//! Pairing: a stranger who writes to an assistant under `dmPolicy: pairing` gets a code;
//! its owner approves the code and the stranger is let in. Codes are checked here before
//! they reach a command line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A pairing code as OpenClaw issues it: 8 characters from `A–Z` without `I` and `O`,
/// and `2–9` (upper case; lower case is accepted and raised).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PairingCode(String);

/// Length of a pairing code.
pub const CODE_LENGTH: usize = 8;

impl PairingCode {
    /// The code, or why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let code = text.trim().to_ascii_uppercase();
        let valid = code.len() == CODE_LENGTH
            && code
                .bytes()
                .all(|b| matches!(b, b'A'..=b'H' | b'J'..=b'N' | b'P'..=b'Z' | b'2'..=b'9'));
        if valid {
            Ok(Self(code))
        } else {
            Err(format!(
                "a pairing code is {CODE_LENGTH} letters and digits (A-Z without I and O, 2-9), as the assistant sent it"
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pending pairing request, as `openclaw pairing list telegram --json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingRequest {
    /// The code the stranger was sent.
    pub code: String,
    /// The stranger's Telegram user id.
    pub id: String,
    /// When the request was made (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// When the stranger last wrote (RFC 3339).
    #[serde(default)]
    pub last_seen_at: String,
    /// What OpenClaw knows of the stranger (`username`, `firstName`, …).
    #[serde(default)]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Listing {
    #[serde(default)]
    requests: Vec<PairingRequest>,
}

/// The command that lists pending Telegram pairing requests, as JSON.
pub fn list_command() -> Vec<String> {
    super::machine::cli(&["pairing", "list", "telegram", "--json"])
}

/// The command that approves `code`.
pub fn approve_command(code: &PairingCode) -> Vec<String> {
    super::machine::cli(&["pairing", "approve", "telegram", code.as_str()])
}

/// Reads what the list command printed.
pub fn parse_listing(stdout: &str) -> Result<Vec<PairingRequest>, String> {
    // The CLI may print notices before the JSON document.
    let start = stdout.find('{').ok_or("the listing holds no JSON object")?;
    serde_json::from_str::<Listing>(&stdout[start..])
        .map(|listing| listing.requests)
        .map_err(|e| format!("cannot read the pairing listing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_before_they_reach_a_command_line() {
        assert_eq!(PairingCode::parse("abcd2345").unwrap().as_str(), "ABCD2345");
        assert_eq!(
            PairingCode::parse(" ZZZZ9999 ").unwrap().as_str(),
            "ZZZZ9999"
        );
        for bad in [
            "",
            "ABCD234",
            "ABCD23456",
            "ABCDI234",
            "ABCDO234",
            "ABCD0123",
            "ABC$2345",
            "--help12",
            "ABCD 345",
            "ÄBCD2345",
        ] {
            assert!(PairingCode::parse(bad).is_err(), "{bad:?}");
        }
        let code = PairingCode::parse("HJKL2345").unwrap();
        assert_eq!(
            approve_command(&code).last().map(String::as_str),
            Some("HJKL2345")
        );
    }

    #[test]
    fn listings_are_read_after_any_notice() {
        let stdout = "notice: something\n{\"channel\":\"telegram\",\"requests\":[{\"id\":\"77\",\"code\":\"ABCD2345\",\"createdAt\":\"2026-12-02T10:00:00Z\",\"lastSeenAt\":\"2026-12-02T10:01:00Z\",\"meta\":{\"username\":\"eve\"}}]}";
        let requests = parse_listing(stdout).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].code, "ABCD2345");
        assert_eq!(requests[0].meta["username"], "eve");
        assert!(parse_listing("no json").is_err());
        assert!(parse_listing("{\"requests\": 3}").is_err());
        assert_eq!(
            parse_listing("{\"channel\":\"telegram\",\"requests\":[]}").unwrap(),
            []
        );
    }
}
