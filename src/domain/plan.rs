use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A paid plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Starter: 2 instances.
    Starter,
    /// Pro: 10 instances.
    Pro,
    /// Enterprise: unlimited instances.
    Enterprise,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Starter, Plan::Pro, Plan::Enterprise];

    /// Parses a plan's name as the wire and the store write it (`starter`, `pro`,
    /// `enterprise`), exactly.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|plan| plan.as_str() == value)
            .ok_or_else(|| InvalidValue::new("Plan must be starter, pro or enterprise"))
    }

    /// The plan's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Plan::Starter => "Starter",
            Plan::Pro => "Pro",
            Plan::Enterprise => "Enterprise",
        }
    }

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_names_it_writes() {
        for plan in Plan::ALL {
            assert_eq!(Plan::parse(plan.as_str()), Ok(plan));
            assert_eq!(
                serde_json::to_value(plan).unwrap(),
                serde_json::json!(plan.as_str())
            );
        }
    }

    #[test]
    fn rejects_other_names() {
        for name in ["", "Pro", " pro", "premium", "enterprise "] {
            assert!(Plan::parse(name).is_err(), "{name:?} was accepted");
        }
    }
}
