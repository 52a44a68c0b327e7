//! The models the pinned OpenClaw offers, per provider, as its bundled catalogs list them
//! (`dist/extensions/<provider>/openclaw.plugin.json` of the npm package; a test checks
//! this table against the installed package). OpenClaw sends an id it does not know to
//! the provider as it is, and the assistant then answers every message with "the
//! configured model is unavailable": so an Instance may only name one of these.

use crate::domain::{AiModel, AiProvider};

/// Anthropic's models in the pinned OpenClaw.
pub const ANTHROPIC: &[&str] = &[
    "claude-opus-5-5",
    "claude-fable-5-1",
    "claude-fable-5",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-mythos-5",
    "claude-opus-4-8",
    "claude-haiku-4-5",
];

/// OpenAI's.
pub const OPENAI: &[&str] = &[
    "gpt-6-astra",
    "gpt-6-sol",
    "gpt-6-luna",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "gpt-5.5",
    "gpt-5.5-pro",
    "gpt-5.4",
    "gpt-5.4-pro",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
];

/// Google's.
pub const GOOGLE: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3.5-flash",
    "gemini-3.6-flash",
    "gemini-3.7-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
    "gemini-3-flash-preview",
];

/// The models a provider offers.
pub fn of(provider: AiProvider) -> &'static [&'static str] {
    match provider {
        AiProvider::Anthropic => ANTHROPIC,
        AiProvider::Openai => OPENAI,
        AiProvider::Google => GOOGLE,
    }
}

/// Whether the pinned OpenClaw offers `model` (from its provider).
pub fn offers(model: &AiModel) -> bool {
    of(model.provider()).contains(&model.as_str())
}

/// Every model on offer, for messages that name them.
pub fn on_offer() -> String {
    [ANTHROPIC, OPENAI, GOOGLE].concat().join(", ")
}

/// Why `model` cannot run, naming the models on offer; `None` when it can.
pub fn refusal(model: &AiModel) -> Option<String> {
    (!offers(model)).then(|| {
        format!(
            "OpenClaw {} does not offer the model {}; the models on offer are {}",
            super::OPENCLAW_VERSION,
            model.as_str(),
            on_offer()
        )
    })
}

/// The model an assistant of the original system moves to when its own is not on offer:
/// the same one when it is, else its provider's general-purpose model.
pub fn successor(model: &AiModel) -> AiModel {
    if offers(model) {
        return model.clone();
    }
    let current = match model.provider() {
        AiProvider::Anthropic => "claude-sonnet-5",
        AiProvider::Openai => "gpt-5.4-mini",
        AiProvider::Google => "gemini-2.5-flash",
    };
    AiModel::parse(current).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str) -> AiModel {
        AiModel::parse(id).unwrap()
    }

    #[test]
    fn every_listed_model_parses_under_its_provider() {
        for provider in [
            AiProvider::Anthropic,
            AiProvider::Openai,
            AiProvider::Google,
        ] {
            for id in of(provider) {
                let parsed = model(id);
                assert_eq!(parsed.provider(), provider, "{id}");
                assert!(offers(&parsed), "{id}");
            }
        }
        assert!(offers(&AiModel::default()), "the default model is on offer");
    }

    #[test]
    fn models_off_the_list_are_refused_by_name_and_have_successors() {
        for (id, next) in [
            ("claude-sonnet-4-0", "claude-sonnet-5"),
            ("claude-3-5-sonnet-20241022", "claude-sonnet-5"),
            ("gpt-4o-mini", "gpt-5.4-mini"),
            ("o1-preview", "gpt-5.4-mini"),
            ("gemini-2.0-flash", "gemini-2.5-flash"),
            ("claude-opus-5", "claude-opus-5"),
        ] {
            let old = model(id);
            assert_eq!(successor(&old).as_str(), next, "{id}");
            assert_eq!(refusal(&old).is_some(), id != next, "{id}");
        }
        let refused = refusal(&model("gpt-4o")).unwrap();
        assert!(
            refused.contains("does not offer the model gpt-4o"),
            "{refused}"
        );
        assert!(refused.contains("claude-sonnet-5, "), "{refused}");
    }
}
