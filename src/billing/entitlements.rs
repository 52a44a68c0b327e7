//! What each plan entitles its Instances to: the models they may use and the size of
//! their machines. This table is the one place plans differ besides their instance
//! limit; `GET /billing/subscription` serves it and the facade enforces it.

use crate::crd::{CpuKind, MachineSize};
use crate::domain::{AiModel, Plan};
use crate::runtime::models;

/// The models first included in Starter (and so in every plan).
const STARTER_MODELS: &[&str] = &[
    "claude-sonnet-5",
    "claude-haiku-4-5",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3.5-flash-lite",
    "gemini-3.1-flash-lite",
];

/// The models first included in Pro (and so in Pro and Enterprise). Every other model
/// OpenClaw offers is Enterprise's alone.
const PRO_MODELS: &[&str] = &[
    "claude-fable-5",
    "claude-fable-5-1",
    "claude-opus-4-8",
    "gpt-5.4",
    "gpt-5.5",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "gpt-6-luna",
    "gemini-2.5-pro",
    "gemini-3.5-flash",
    "gemini-3.6-flash",
    "gemini-3.7-flash",
    "gemini-3-flash-preview",
];

/// The plan whose entitlements a subscription of no known plan gets.
pub const UNKNOWN_PLAN: Plan = Plan::Starter;

/// The cheapest plan that includes `model`.
pub fn cheapest_plan_with(model: &str) -> Plan {
    if STARTER_MODELS.contains(&model) {
        Plan::Starter
    } else if PRO_MODELS.contains(&model) {
        Plan::Pro
    } else {
        Plan::Enterprise
    }
}

fn rank(plan: Plan) -> usize {
    Plan::ALL.iter().position(|p| *p == plan).unwrap_or(0)
}

/// Whether `plan` (`None`: a subscription of no known plan) includes `model`.
pub fn allows(plan: Option<Plan>, model: &AiModel) -> bool {
    rank(cheapest_plan_with(model.as_str())) <= rank(plan.unwrap_or(UNKNOWN_PLAN))
}

/// The models `plan` includes, among those OpenClaw offers, in OpenClaw's order.
pub fn models(plan: Plan) -> Vec<&'static str> {
    [models::ANTHROPIC, models::OPENAI, models::GOOGLE]
        .concat()
        .into_iter()
        .filter(|m| rank(cheapest_plan_with(m)) <= rank(plan))
        .collect()
}

/// The machine each of the plan's Instances gets (`None`: a subscription of no known
/// plan).
pub fn machine(plan: Option<Plan>) -> MachineSize {
    match plan.unwrap_or(UNKNOWN_PLAN) {
        Plan::Starter => MachineSize {
            cpu_kind: CpuKind::Shared,
            cpus: 1,
            memory_mb: 2048,
        },
        Plan::Pro => MachineSize {
            cpu_kind: CpuKind::Shared,
            cpus: 2,
            memory_mb: 4096,
        },
        Plan::Enterprise => MachineSize {
            cpu_kind: CpuKind::Performance,
            cpus: 2,
            memory_mb: 8192,
        },
    }
}

/// Why `plan` may not use `model`, naming the plan that includes it; `None` when it
/// may.
pub fn refusal(plan: Option<Plan>, model: &AiModel) -> Option<String> {
    if allows(plan, model) {
        return None;
    }
    let needed = cheapest_plan_with(model.as_str()).display_name();
    let held = plan.unwrap_or(UNKNOWN_PLAN).display_name();
    Some(format!(
        "The {held} plan does not include the model {}; the {needed} plan does. Please upgrade your plan to use it.",
        model.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> AiModel {
        AiModel::parse(name).unwrap()
    }

    #[test]
    fn every_listed_model_is_one_openclaw_offers() {
        for name in STARTER_MODELS.iter().chain(PRO_MODELS) {
            assert!(models::offers(&model(name)), "{name} is not on offer");
        }
        assert_eq!(
            models(Plan::Enterprise).len(),
            [models::ANTHROPIC, models::OPENAI, models::GOOGLE]
                .concat()
                .len()
        );
    }

    #[test]
    fn the_default_model_is_in_every_plan() {
        for plan in Plan::ALL {
            assert!(allows(Some(plan), &AiModel::default()), "{plan:?}");
        }
        assert!(allows(None, &AiModel::default()));
    }

    #[test]
    fn dearer_plans_include_what_cheaper_ones_do() {
        let starter = models(Plan::Starter);
        let pro = models(Plan::Pro);
        let enterprise = models(Plan::Enterprise);
        assert!(starter.iter().all(|m| pro.contains(m)));
        assert!(pro.iter().all(|m| enterprise.contains(m)));
        assert!(starter.len() < pro.len() && pro.len() < enterprise.len());
        assert!(!pro.contains(&"claude-opus-5-5"));
        assert!(!starter.contains(&"gpt-5.5"));
    }

    #[test]
    fn refusals_name_the_plan_that_has_the_model() {
        assert_eq!(
            refusal(Some(Plan::Starter), &model("gpt-5.5-pro")).as_deref(),
            Some(
                "The Starter plan does not include the model gpt-5.5-pro; the Enterprise plan does. Please upgrade your plan to use it."
            )
        );
        let pro = refusal(None, &model("gpt-5.5")).unwrap();
        assert!(pro.contains("the Pro plan does"), "{pro}");
        assert_eq!(refusal(Some(Plan::Enterprise), &model("gpt-5.5-pro")), None);
    }

    #[test]
    fn machines_grow_with_the_plan_and_are_valid_sizes() {
        let sizes: Vec<MachineSize> = Plan::ALL.into_iter().map(|p| machine(Some(p))).collect();
        assert!(sizes.windows(2).all(|w| w[0].memory_mb < w[1].memory_mb));
        assert!(
            sizes
                .iter()
                .all(|s| s.memory_mb >= 1024 && s.memory_mb % 256 == 0)
        );
        assert_eq!(machine(None), machine(Some(Plan::Starter)));
    }
}
