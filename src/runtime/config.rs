//! The keys of OpenClaw's `openclaw.json` the control plane owns. The machine merges
//! them into the file on its volume at every start (`openclaw config patch`: objects
//! merge, arrays are replaced, `null` deletes), so the owner's own settings survive and
//! these win.

use serde_json::{Map, Value, json};
use url::Url;

use super::machine::GATEWAY_PORT;
use super::versions::{self, ConfigDialect, IdFormat};
use crate::domain::{AiModel, AiProvider};

/// Who may talk to the assistant in direct messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmPolicy {
    /// Only the listed Telegram users.
    Allowlist,
    /// Strangers get a code their owner approves. Never `open`.
    Pairing,
}

impl DmPolicy {
    /// The policy for an owner who gave these Telegram user ids: `allowlist` when there
    /// are any, else `pairing`.
    pub fn for_users(telegram_user_ids: &[i64]) -> Self {
        if telegram_user_ids.is_empty() {
            Self::Pairing
        } else {
            Self::Allowlist
        }
    }

    /// As `channels.telegram.dmPolicy` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowlist => "allowlist",
            Self::Pairing => "pairing",
        }
    }
}

/// Where the gateways reach Telegram and the model providers, when not at their public
/// addresses: a Bot API proxy or self-hosted server, a model gateway or metering proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// `channels.telegram.apiRoot`.
    pub telegram_api_root: Option<Url>,
    /// `models.providers.anthropic.baseUrl` (the root: the gateway adds `/v1/messages`).
    pub anthropic: Option<Url>,
    /// `models.providers.openai.baseUrl` (ending in `/v1`).
    pub openai: Option<Url>,
    /// `models.providers.google.baseUrl` (ending in `/v1beta`).
    pub google: Option<Url>,
}

impl Endpoints {
    /// The base URL set for `provider`.
    pub fn model_base_url(&self, provider: AiProvider) -> Option<&Url> {
        match provider {
            AiProvider::Anthropic => self.anthropic.as_ref(),
            AiProvider::Openai => self.openai.as_ref(),
            AiProvider::Google => self.google.as_ref(),
        }
    }
}

/// OpenClaw's id of a provider and the wire protocol it speaks (`models.providers.<id>.api`).
pub fn provider_id_and_api(provider: AiProvider) -> (&'static str, &'static str) {
    match provider {
        AiProvider::Anthropic => ("anthropic", "anthropic-messages"),
        AiProvider::Openai => ("openai", "openai-completions"),
        AiProvider::Google => ("google", "google-generative-ai"),
    }
}

/// The model as `agents.defaults.model.primary` names it: `<provider>/<model>`.
pub fn primary_model(model: &AiModel, provider: AiProvider) -> String {
    format!("{}/{}", provider_id_and_api(provider).0, model.as_str())
}

/// `agents.defaults.heartbeat.every` that turns the recurring heartbeat off.
pub const HEARTBEAT_OFF: &str = "0m";

/// The owned keys for one assistant.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedConfig<'a> {
    /// The model answering.
    pub model: &'a AiModel,
    /// Its provider.
    pub provider: AiProvider,
    /// The owner's Telegram user ids: the allowlist, or empty for pairing.
    pub telegram_user_ids: &'a [i64],
    /// Where Telegram and the providers are reached.
    pub endpoints: &'a Endpoints,
}

impl OwnedConfig<'_> {
    /// The document merged into `openclaw.json`, for the pinned (newest supported)
    /// OpenClaw version: [`OwnedConfig::document_for`] its dialect.
    pub fn document(&self) -> Value {
        self.document_for(&versions::newest().dialect)
    }

    /// The document merged into `openclaw.json` by a version of `dialect`. It holds no
    /// secret: the gateway token, the bot token and the provider key reach the gateway
    /// as environment variables (app secrets), and the keys that could hold them here
    /// are deleted (`null`). Keys the dialect lacks are left out (the version's default
    /// applies); `allowFrom` takes its id format.
    pub fn document_for(&self, dialect: &ConfigDialect) -> Value {
        let policy = DmPolicy::for_users(self.telegram_user_ids);
        let allow_from = match policy {
            DmPolicy::Allowlist => Value::from(
                self.telegram_user_ids
                    .iter()
                    .map(|id| match dialect.allow_from {
                        IdFormat::Strings => Value::from(id.to_string()),
                        IdFormat::Numbers => Value::from(*id),
                    })
                    .collect::<Vec<_>>(),
            ),
            DmPolicy::Pairing => Value::Null,
        };
        let mut defaults = json!({
            "model": { "primary": primary_model(self.model, self.provider) },
        });
        if dialect.heartbeat_every {
            // No recurring heartbeat: every heartbeat is a model turn the platform's
            // key pays for (every 30 minutes by default), and its alerts are messages
            // the owner never asked for. The assistant speaks when spoken to.
            defaults["heartbeat"] = json!({ "every": HEARTBEAT_OFF });
        }
        let mut telegram = json!({
            "enabled": true,
            "botToken": null,
            "dmPolicy": policy.as_str(),
            "allowFrom": allow_from,
        });
        if dialect.telegram_group_policy {
            telegram["groupPolicy"] = json!("allowlist");
        }
        if dialect.telegram_api_root {
            telegram["apiRoot"] = json!(
                self.endpoints
                    .telegram_api_root
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/'))
            );
        }
        let mut document = json!({
            "gateway": {
                "mode": "local",
                "port": GATEWAY_PORT,
                "bind": "lan",
                "auth": { "mode": "token", "token": null, "password": null },
            },
            "agents": { "defaults": defaults },
            "channels": { "telegram": telegram },
        });
        let providers: Map<String, Value> = [
            AiProvider::Anthropic,
            AiProvider::Openai,
            AiProvider::Google,
        ]
        .into_iter()
        .filter_map(|provider| {
            let url = self.endpoints.model_base_url(provider)?;
            let (id, api) = provider_id_and_api(provider);
            Some((
                id.to_owned(),
                json!({ "baseUrl": url.as_str().trim_end_matches('/'), "api": api }),
            ))
        })
        .collect();
        if !providers.is_empty() {
            document["models"] = json!({ "providers": providers });
        }
        document
    }

    /// The document as the machine's file holds it, for the pinned version.
    pub fn to_file(&self) -> String {
        self.to_file_for(&versions::newest().dialect)
    }

    /// The document for `dialect` as the machine's file holds it.
    pub fn to_file_for(&self, dialect: &ConfigDialect) -> String {
        // A `Value` always serializes.
        serde_json::to_string_pretty(&self.document_for(dialect)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str) -> AiModel {
        AiModel::parse(id).unwrap()
    }

    #[test]
    fn owners_with_telegram_ids_get_an_allowlist_and_others_pairing() {
        let endpoints = Endpoints::default();
        let sonnet = model("claude-sonnet-5");
        let owned = OwnedConfig {
            model: &sonnet,
            provider: AiProvider::Anthropic,
            telegram_user_ids: &[424242, 7],
            endpoints: &endpoints,
        };
        let doc = owned.document();
        assert_eq!(doc["gateway"]["mode"], "local");
        assert_eq!(doc["gateway"]["bind"], "lan");
        assert_eq!(doc["gateway"]["port"], 18789);
        assert_eq!(doc["gateway"]["auth"]["mode"], "token");
        assert!(doc["gateway"]["auth"]["token"].is_null());
        assert_eq!(
            doc["agents"]["defaults"]["model"]["primary"],
            "anthropic/claude-sonnet-5"
        );
        assert_eq!(doc["agents"]["defaults"]["heartbeat"]["every"], "0m");
        let telegram = &doc["channels"]["telegram"];
        assert_eq!(telegram["dmPolicy"], "allowlist");
        assert_eq!(telegram["allowFrom"], json!(["424242", "7"]));
        assert_eq!(telegram["groupPolicy"], "allowlist");
        assert!(telegram["apiRoot"].is_null() && telegram["botToken"].is_null());
        assert!(doc.get("models").is_none());

        let pairing = OwnedConfig {
            telegram_user_ids: &[],
            ..owned
        }
        .document();
        assert_eq!(pairing["channels"]["telegram"]["dmPolicy"], "pairing");
        assert!(pairing["channels"]["telegram"]["allowFrom"].is_null());
        assert!(!owned.to_file().contains("open\""));
    }

    #[test]
    fn endpoints_reach_the_telegram_channel_and_the_providers() {
        let endpoints = Endpoints {
            telegram_api_root: Some(Url::parse("http://127.0.0.1:9000/").unwrap()),
            anthropic: Some(Url::parse("http://127.0.0.1:9001").unwrap()),
            openai: Some(Url::parse("http://127.0.0.1:9001/v1").unwrap()),
            google: None,
        };
        let gpt = model("gpt-5.4-mini");
        let doc = OwnedConfig {
            model: &gpt,
            provider: AiProvider::Openai,
            telegram_user_ids: &[1],
            endpoints: &endpoints,
        }
        .document();
        assert_eq!(
            doc["channels"]["telegram"]["apiRoot"],
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            doc["agents"]["defaults"]["model"]["primary"],
            "openai/gpt-5.4-mini"
        );
        assert_eq!(
            doc["models"]["providers"]["anthropic"],
            json!({"baseUrl": "http://127.0.0.1:9001", "api": "anthropic-messages"})
        );
        assert_eq!(
            doc["models"]["providers"]["openai"],
            json!({"baseUrl": "http://127.0.0.1:9001/v1", "api": "openai-completions"})
        );
        assert!(doc["models"]["providers"].get("google").is_none());
    }

    /// An older version that knew neither the heartbeat switch, the group policy nor a
    /// custom Bot API root, and took user ids as numbers.
    const OLDER: ConfigDialect = ConfigDialect {
        heartbeat_every: false,
        telegram_group_policy: false,
        telegram_api_root: false,
        allow_from: IdFormat::Numbers,
        provider_apis: &["anthropic-messages", "openai-completions"],
    };

    #[test]
    fn a_dialect_leaves_out_what_its_version_lacks_and_writes_ids_its_way() {
        let endpoints = Endpoints {
            telegram_api_root: Some(Url::parse("http://127.0.0.1:9000/").unwrap()),
            anthropic: Some(Url::parse("http://127.0.0.1:9001").unwrap()),
            ..Endpoints::default()
        };
        let sonnet = model("claude-sonnet-5");
        let owned = OwnedConfig {
            model: &sonnet,
            provider: AiProvider::Anthropic,
            telegram_user_ids: &[424242, 7],
            endpoints: &endpoints,
        };
        let newest = owned.document();
        assert_eq!(newest, owned.document_for(&versions::newest().dialect));
        assert_eq!(
            owned.to_file(),
            owned.to_file_for(&versions::newest().dialect)
        );

        let older = owned.document_for(&OLDER);
        let telegram = &older["channels"]["telegram"];
        assert_eq!(telegram["allowFrom"], json!([424242, 7]));
        assert!(telegram.get("groupPolicy").is_none(), "{telegram}");
        assert!(telegram.get("apiRoot").is_none(), "{telegram}");
        assert!(older["agents"]["defaults"].get("heartbeat").is_none());
        assert_eq!(
            older["agents"]["defaults"]["model"]["primary"],
            "anthropic/claude-sonnet-5"
        );
        // What every version takes is written alike.
        assert_eq!(older["gateway"], newest["gateway"]);
        assert_eq!(older["models"], newest["models"]);
        assert_eq!(telegram["dmPolicy"], "allowlist");
        assert!(telegram["botToken"].is_null() && telegram.get("botToken").is_some());
        assert!(!owned.to_file_for(&OLDER).contains("groupPolicy"));
    }
}
