//! What becomes of each original row: pure functions, tested as tables.

use secrecy::ExposeSecret;

use crate::billing::catalog::{self, Catalog};
use crate::crd::PowerState;
use crate::crypto::legacy::{LegacyKey, looks_legacy};
use crate::domain::{DisplayName, Plan, TelegramBotToken};

/// What the import does with an original instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceFate {
    /// Take over its app and machine, keeping it running or stopped as it was.
    Adopt {
        /// Running or stopped.
        power: PowerState,
        /// Its Fly.io app.
        app: String,
        /// Its machine.
        machine: String,
    },
    /// Import it as FAILED, holding whatever it left on Fly.io so that deleting it
    /// cleans up, and a retry provisions it in the same app.
    Failed {
        /// Why, for the owner.
        message: String,
        /// The app it left, if the original recorded one.
        app: Option<String>,
        /// The machine it left, if the original recorded one.
        machine: Option<String>,
    },
    /// Leave it out.
    Skip(String),
}

/// The fate of an original instance, from its status, provider and Fly.io ids.
pub fn instance_fate(
    status: &str,
    provider: &str,
    app: Option<&str>,
    machine: Option<&str>,
) -> InstanceFate {
    let app = app.map(str::trim).filter(|a| !a.is_empty());
    let machine = machine.map(str::trim).filter(|m| !m.is_empty());
    let status = status.trim().to_ascii_uppercase();
    if status == "DELETED" {
        return InstanceFate::Skip("deleted in the original".to_owned());
    }
    if provider.trim().eq_ignore_ascii_case("docker") {
        return InstanceFate::Skip(
            "ran on the original's local Docker provider, not on Fly.io: nothing to take over"
                .to_owned(),
        );
    }
    let failed = |message: &str| InstanceFate::Failed {
        message: message.to_owned(),
        app: app.map(str::to_owned),
        machine: machine.map(str::to_owned),
    };
    if status == "FAILED" {
        return failed("the original system had marked this instance FAILED");
    }
    let (Some(app), Some(machine)) = (app, machine) else {
        return failed(&format!(
            "provisioning never finished in the original system (it was {status})"
        ));
    };
    let power = match status.as_str() {
        "STOPPED" | "STOPPING" => PowerState::Stopped,
        // RUNNING, STARTING, UNKNOWN and anything newer: it was meant to run.
        _ => PowerState::Running,
    };
    InstanceFate::Adopt {
        power,
        app: app.to_owned(),
        machine: machine.to_owned(),
    }
}

/// A subscription's terms here: its plan (from its Stripe price through the configured
/// prices, else the plan the original stored) and that plan's instance limit (the
/// stored limit when the plan is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// The plan.
    pub plan: Option<Plan>,
    /// Instances allowed; -1 is unlimited.
    pub instance_limit: i32,
}

/// The terms of an original subscription.
pub fn terms(
    catalog: &Catalog,
    price: Option<&str>,
    stored_plan: Option<&str>,
    stored_limit: i32,
) -> Terms {
    let plan = price.and_then(|p| catalog.plan_for_price(p)).or_else(|| {
        let stored = stored_plan?.trim().to_ascii_lowercase();
        Plan::parse(&stored).ok()
    });
    Terms {
        plan,
        instance_limit: match plan {
            Some(plan) => catalog::instance_limit(Some(plan)),
            None => stored_limit.max(-1),
        },
    }
}

/// The Telegram token of an original instance: plaintext, or opened from the
/// original's encrypted format. The error says why, never what the value is.
pub fn token(
    stored: Option<&str>,
    legacy_key: Option<&LegacyKey>,
) -> Result<TelegramBotToken, String> {
    let stored = stored.map(str::trim).filter(|s| !s.is_empty());
    let Some(stored) = stored else {
        return Err("it has no Telegram token".to_owned());
    };
    let plain = if looks_legacy(stored) {
        let Some(key) = legacy_key else {
            return Err(
                "its token is encrypted with the original's key: set LEGACY_ENCRYPTION_KEY to the original's ENCRYPTION_KEY".to_owned(),
            );
        };
        key.open(stored)
            .map_err(|e| format!("its token {e}"))?
            .expose_secret()
            .to_owned()
    } else {
        stored.to_owned()
    };
    TelegramBotToken::parse(plain).map_err(|e| format!("its Telegram token: {e}"))
}

/// The name shown to the owner: the original's, trimmed to what a display name allows.
pub fn display_name(name: &str) -> DisplayName {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(50)
        .collect();
    DisplayName::parse(cleaned.trim_end().to_owned())
        .or_else(|_| DisplayName::parse("Assistant".to_owned()))
        .unwrap_or_else(|_| unreachable!("\"Assistant\" is a valid display name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PowerState::{Running, Stopped};

    fn adopt(power: PowerState) -> InstanceFate {
        InstanceFate::Adopt {
            power,
            app: "openclaw-ab-1".to_owned(),
            machine: "m1".to_owned(),
        }
    }

    /// (status, provider, app, machine) → fate.
    type Row = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        InstanceFate,
    );

    #[test]
    fn the_fate_table() {
        let app = Some("openclaw-ab-1");
        let m = Some("m1");
        let table: Vec<Row> = vec![
            ("RUNNING", "fly", app, m, adopt(Running)),
            ("STARTING", "fly", app, m, adopt(Running)),
            ("UNKNOWN", "fly", app, m, adopt(Running)),
            ("running", "fly", app, m, adopt(Running)),
            ("STOPPED", "fly", app, m, adopt(Stopped)),
            ("STOPPING", "fly", app, m, adopt(Stopped)),
            (
                "DELETED",
                "fly",
                app,
                m,
                InstanceFate::Skip("deleted in the original".to_owned()),
            ),
            (
                "FAILED",
                "fly",
                app,
                None,
                InstanceFate::Failed {
                    message: "the original system had marked this instance FAILED".to_owned(),
                    app: Some("openclaw-ab-1".to_owned()),
                    machine: None,
                },
            ),
            (
                "FAILED",
                "fly",
                None,
                None,
                InstanceFate::Failed {
                    message: "the original system had marked this instance FAILED".to_owned(),
                    app: None,
                    machine: None,
                },
            ),
            (
                "PROVISIONING",
                "fly",
                Some(""),
                None,
                InstanceFate::Failed {
                    message:
                        "provisioning never finished in the original system (it was PROVISIONING)"
                            .to_owned(),
                    app: None,
                    machine: None,
                },
            ),
        ];
        for (status, provider, app, machine, want) in table {
            assert_eq!(
                instance_fate(status, provider, app, machine),
                want,
                "{status} {provider} {app:?} {machine:?}"
            );
        }
        assert!(matches!(
            instance_fate("RUNNING", "docker", None, None),
            InstanceFate::Skip(_)
        ));
    }

    #[test]
    fn terms_follow_the_price_then_the_stored_plan() {
        let catalog = Catalog::new(Some("price_s".to_owned()), Some("price_p".to_owned()), None);
        // A stale limit is recomputed from the price.
        assert_eq!(
            terms(&catalog, Some("price_p"), Some("starter"), 1),
            Terms {
                plan: Some(Plan::Pro),
                instance_limit: 10
            }
        );
        // An unknown price falls back to the stored plan.
        assert_eq!(
            terms(&catalog, Some("price_old"), Some("Enterprise"), 3),
            Terms {
                plan: Some(Plan::Enterprise),
                instance_limit: -1
            }
        );
        // Nothing known: the stored limit stands.
        assert_eq!(
            terms(&catalog, None, Some("business"), 4),
            Terms {
                plan: None,
                instance_limit: 4
            }
        );
    }

    #[test]
    fn tokens_open_or_say_why_without_the_value() {
        let valid = "123456789:AAH-abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(token_text(Some(valid), None), Ok(valid.to_owned()));
        let no = super::token(None, None).err().unwrap_or_default();
        assert!(no.contains("no Telegram token"), "{no}");
        let encrypted = format!("{}:{}:{}", "a".repeat(32), "b".repeat(32), "cd");
        let need_key = super::token(Some(&encrypted), None)
            .err()
            .unwrap_or_default();
        assert!(need_key.contains("LEGACY_ENCRYPTION_KEY"), "{need_key}");
        let key = LegacyKey::derive(&secrecy::SecretString::from("k".to_owned()));
        let wrong = super::token(Some(&encrypted), Some(&key))
            .err()
            .unwrap_or_default();
        assert!(wrong.contains("does not open"), "{wrong}");
        let bad = super::token(Some("not-a-token-value"), None)
            .err()
            .unwrap_or_default();
        assert!(!bad.contains("not-a-token-value"), "{bad}");
    }

    fn token_text(stored: Option<&str>, key: Option<&LegacyKey>) -> Result<String, String> {
        token(stored, key).map(|t| t.expose().to_owned())
    }

    #[test]
    fn display_names_fit() {
        assert_eq!(display_name("  My bot ").as_str(), "My bot");
        assert_eq!(display_name(&"x".repeat(80)).as_str().len(), 50);
        assert_eq!(display_name(" \t ").as_str(), "Assistant");
    }
}
