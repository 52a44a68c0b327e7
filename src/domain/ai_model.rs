use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The company whose API serves an instance's model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AiProvider {
    /// OpenAI: `gpt-*` and `o1-*` models.
    Openai,
    /// Anthropic: `claude-*` models.
    Anthropic,
    /// Google: `gemini-*` models.
    Google,
}

impl AiProvider {
    /// The lowercase name used on the wire and in machine configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Google => "google",
        }
    }
}

string_type! {
    /// An AI model name. It must start with `gpt-`, `claude-`, `gemini-` or `o1-`, which
    /// also tells which provider serves it.
    pub struct AiModel(String);
    /// The model name as text.
    fn as_str;
    schema: {
        "type": "string",
        "maxLength": Self::MAX_CHARS,
        "pattern": Self::PATTERN,
    }
}

impl AiModel {
    /// The model used when a request or an Instance names none.
    pub const DEFAULT: &'static str = "claude-sonnet-5";
    /// The most characters a model name may have.
    pub const MAX_CHARS: usize = 100;
    /// The pattern every model name matches: a known family prefix, then a name.
    pub const PATTERN: &'static str = "^(gpt|claude|gemini|o1)-[A-Za-z0-9][A-Za-z0-9._-]*$";
    /// The family prefixes, each with the provider that serves it.
    const FAMILIES: [(&'static str, AiProvider); 4] = [
        ("gpt-", AiProvider::Openai),
        ("o1-", AiProvider::Openai),
        ("claude-", AiProvider::Anthropic),
        ("gemini-", AiProvider::Google),
    ];

    /// Parses a model name.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let Some(rest) = Self::FAMILIES
            .iter()
            .find_map(|(prefix, _)| value.strip_prefix(prefix))
        else {
            return Err(InvalidValue::new(
                "AI model must start with gpt-, claude-, gemini- or o1-",
            ));
        };
        let well_formed = rest
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !well_formed {
            return Err(InvalidValue::new(
                "AI model must be a family prefix followed by letters, digits, '.', '_' or '-'",
            ));
        }
        if value.len() > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "AI model must be {} characters or less",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(value))
    }

    /// The provider that serves this model, read from its family prefix.
    pub fn provider(&self) -> AiProvider {
        Self::FAMILIES
            .iter()
            .find(|(prefix, _)| self.0.starts_with(prefix))
            .map_or(AiProvider::Anthropic, |(_, provider)| *provider)
    }
}

impl Default for AiModel {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_provider_from_the_prefix() {
        let cases = [
            ("gpt-5.4-mini", AiProvider::Openai),
            ("o1-preview", AiProvider::Openai),
            ("claude-sonnet-5", AiProvider::Anthropic),
            ("claude-3-5-sonnet-20241022", AiProvider::Anthropic),
            ("gemini-2.5-flash", AiProvider::Google),
        ];
        for (model, provider) in cases {
            assert_eq!(
                AiModel::parse(model).unwrap().provider(),
                provider,
                "{model}"
            );
        }
    }

    #[test]
    fn rejects_unknown_families_and_bare_prefixes() {
        for model in [
            "llama-3",
            "",
            "gpt",
            "gpt-",
            "claude-/x",
            "GPT-4",
            "o3-mini",
            "gpt-4 o",
        ] {
            assert!(AiModel::parse(model).is_err(), "{model:?} was accepted");
        }
    }

    #[test]
    fn accepts_up_to_one_hundred_characters() {
        let at_bound = format!("gpt-{}", "a".repeat(AiModel::MAX_CHARS - 4));
        assert_eq!(at_bound.len(), 100);
        assert!(AiModel::parse(at_bound).is_ok());
        let past_bound = format!("gpt-{}", "a".repeat(AiModel::MAX_CHARS - 3));
        assert!(AiModel::parse(past_bound).is_err());
    }

    #[test]
    fn defaults_to_claude_sonnet_4() {
        assert_eq!(AiModel::default().as_str(), "claude-sonnet-5");
        assert_eq!(AiModel::default().provider(), AiProvider::Anthropic);
    }

    #[test]
    fn provider_names_are_lowercase_on_the_wire() {
        assert_eq!(
            serde_json::to_string(&AiProvider::Openai).unwrap(),
            "\"openai\""
        );
        assert_eq!(AiProvider::Google.as_str(), "google");
    }
}
