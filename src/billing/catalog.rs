//! The plans on sale: each plan's Stripe price, instance limit and what the pricing
//! page shows, and the plan a Stripe price stands for.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::entitlements;
use crate::crd::MachineSize;
use crate::domain::Plan;

/// A plan as the pricing page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanConfig {
    /// Display name.
    pub name: String,
    /// Stripe price id.
    pub price_id: String,
    /// Monthly price in dollars.
    pub price: f64,
    /// How many instances the plan allows; -1 means unlimited.
    pub instance_limit: i32,
    /// Feature lines.
    pub features: Vec<String>,
    /// The AI models the plan's instances may use.
    pub models: Vec<String>,
    /// The machine each of the plan's instances runs on.
    pub machine: MachineSize,
}

/// The configured plans; a plan without a Stripe price is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plans {
    /// The Starter plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PlanConfig")]
    pub starter: Option<PlanConfig>,
    /// The Pro plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PlanConfig")]
    pub pro: Option<PlanConfig>,
    /// The Enterprise plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PlanConfig")]
    pub enterprise: Option<PlanConfig>,
}

/// The limit of a subscription whose price is none of the configured plans'.
pub const UNKNOWN_PLAN_LIMIT: i32 = 1;

/// How many instances `plan` allows; -1 is unlimited.
pub fn instance_limit(plan: Option<Plan>) -> i32 {
    match plan {
        Some(Plan::Starter) => 2,
        Some(Plan::Pro) => 10,
        Some(Plan::Enterprise) => -1,
        None => UNKNOWN_PLAN_LIMIT,
    }
}

/// The configured Stripe price of each plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    starter: Option<String>,
    pro: Option<String>,
    enterprise: Option<String>,
}

impl Catalog {
    /// A catalog selling the plans whose price is given.
    pub fn new(starter: Option<String>, pro: Option<String>, enterprise: Option<String>) -> Self {
        Self {
            starter,
            pro,
            enterprise,
        }
    }

    /// The Stripe price of `plan`, when it is on sale.
    pub fn price(&self, plan: Plan) -> Option<&str> {
        match plan {
            Plan::Starter => self.starter.as_deref(),
            Plan::Pro => self.pro.as_deref(),
            Plan::Enterprise => self.enterprise.as_deref(),
        }
    }

    /// The plan sold at Stripe price `price`.
    pub fn plan_for_price(&self, price: &str) -> Option<Plan> {
        Plan::ALL
            .into_iter()
            .find(|plan| self.price(*plan) == Some(price))
    }

    /// The plan of a recorded subscription: the one sold at its price (so a change
    /// made in the portal counts), else the plan it was recorded with.
    pub fn plan_of(&self, price: Option<&str>, recorded: Option<&str>) -> Option<Plan> {
        price
            .and_then(|p| self.plan_for_price(p))
            .or_else(|| recorded.and_then(|p| Plan::parse(p).ok()))
    }

    /// The plans on sale, as the pricing page shows them.
    pub fn plans(&self) -> Plans {
        let config = |plan: Plan| {
            self.price(plan).map(|price_id| PlanConfig {
                name: display_name(plan).to_owned(),
                price_id: price_id.to_owned(),
                price: monthly_dollars(plan),
                instance_limit: instance_limit(Some(plan)),
                features: features(plan).iter().map(|f| (*f).to_owned()).collect(),
                models: entitlements::models(plan)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                machine: entitlements::machine(Some(plan)),
            })
        };
        Plans {
            starter: config(Plan::Starter),
            pro: config(Plan::Pro),
            enterprise: config(Plan::Enterprise),
        }
    }
}

/// The plan's name for people.
pub fn display_name(plan: Plan) -> &'static str {
    plan.display_name()
}

/// The monthly price the pricing page shows, in dollars (Stripe's price is what is
/// charged).
fn monthly_dollars(plan: Plan) -> f64 {
    match plan {
        Plan::Starter => 39.0,
        Plan::Pro => 79.0,
        Plan::Enterprise => 149.0,
    }
}

fn features(plan: Plan) -> &'static [&'static str] {
    match plan {
        Plan::Starter => &[
            "Up to 100K requests/month",
            "2 Claude instances",
            "Basic analytics",
            "Email support",
        ],
        Plan::Pro => &[
            "Up to 1M requests/month",
            "10 Claude instances",
            "Advanced analytics",
            "Priority support",
            "Team collaboration",
        ],
        Plan::Enterprise => &[
            "Unlimited requests",
            "Unlimited instances",
            "Custom analytics",
            "24/7 dedicated support",
            "SLA guarantee",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(
            Some("price_starter".to_owned()),
            Some("price_pro".to_owned()),
            None,
        )
    }

    #[test]
    fn limits_follow_the_plans() {
        assert_eq!(instance_limit(Some(Plan::Starter)), 2);
        assert_eq!(instance_limit(Some(Plan::Pro)), 10);
        assert_eq!(instance_limit(Some(Plan::Enterprise)), -1);
        assert_eq!(instance_limit(None), 1);
    }

    #[test]
    fn prices_map_to_plans_both_ways() {
        let catalog = catalog();
        assert_eq!(catalog.plan_for_price("price_pro"), Some(Plan::Pro));
        assert_eq!(catalog.plan_for_price("price_other"), None);
        assert_eq!(catalog.price(Plan::Enterprise), None);
    }

    #[test]
    fn only_plans_with_a_price_are_offered() {
        let plans = catalog().plans();
        let starter = plans.starter.expect("starter is on sale");
        assert_eq!(starter.price_id, "price_starter");
        assert_eq!(starter.instance_limit, 2);
        assert_eq!(starter.features.len(), 4);
        assert!(starter.models.iter().any(|m| m == "claude-sonnet-5"));
        assert_eq!(starter.machine.memory_mb, 2048);
        assert!(plans.pro.is_some());
        assert!(plans.enterprise.is_none());
    }
}
