use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::FlyError;

/// How to reach the Machines API.
#[derive(Clone, Debug)]
pub struct FlyConfig {
    /// API token: sent as `Bearer <token>`, or as it is when it already starts with
    /// `FlyV1 ` (macaroon tokens).
    pub api_token: SecretString,
    /// Base URL, such as `https://api.machines.dev`.
    pub api_url: Url,
    /// Organization that owns the apps.
    pub org_slug: String,
}

impl FlyConfig {
    /// The default base URL.
    pub const DEFAULT_URL: &'static str = "https://api.machines.dev";

    /// The `Authorization` header value.
    pub(super) fn authorization(&self) -> String {
        let token = self.api_token.expose_secret().trim();
        if token.starts_with("FlyV1 ") || token.starts_with("Bearer ") {
            token.to_owned()
        } else {
            format!("Bearer {token}")
        }
    }
}

/// The Fly settings of the command line.
#[derive(Clone, Debug, Args)]
pub struct FlyArgs {
    /// Fly.io API token (`fly tokens deploy`); `FlyV1 ...` macaroons are sent as they are.
    #[arg(long, env = "FLY_API_TOKEN", hide_env_values = true)]
    pub fly_api_token: Option<SecretString>,

    /// Machines API base URL.
    #[arg(long, env = "FLY_API_URL", default_value = FlyConfig::DEFAULT_URL)]
    pub fly_api_url: String,

    /// Fly.io organization that owns the apps.
    #[arg(long, env = "FLY_ORG_SLUG", default_value = "personal")]
    pub fly_org_slug: String,
}

impl FlyArgs {
    /// The client configuration, or a one-line error naming the bad setting.
    pub fn config(&self) -> Result<FlyConfig, FlyError> {
        let api_token = self
            .fly_api_token
            .clone()
            .filter(|t| !t.expose_secret().trim().is_empty())
            .ok_or_else(|| FlyError::Config("FLY_API_TOKEN is not set".to_owned()))?;
        let api_url = Url::parse(&self.fly_api_url)
            .map_err(|e| FlyError::Config(format!("FLY_API_URL is not a URL: {e}")))?;
        if !matches!(api_url.scheme(), "http" | "https") {
            return Err(FlyError::Config(
                "FLY_API_URL must be http or https".to_owned(),
            ));
        }
        if self.fly_org_slug.trim().is_empty() {
            return Err(FlyError::Config("FLY_ORG_SLUG is empty".to_owned()));
        }
        Ok(FlyConfig {
            api_token,
            api_url,
            org_slug: self.fly_org_slug.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, url: &str) -> FlyArgs {
        FlyArgs {
            fly_api_token: token.map(|t| SecretString::from(t.to_owned())),
            fly_api_url: url.to_owned(),
            fly_org_slug: "personal".to_owned(),
        }
    }

    #[test]
    fn tokens_become_bearer_unless_they_are_macaroons() {
        let plain = args(Some("abc"), FlyConfig::DEFAULT_URL).config().unwrap();
        assert_eq!(plain.authorization(), "Bearer abc");
        let macaroon = args(Some("FlyV1 fm2_xyz"), FlyConfig::DEFAULT_URL)
            .config()
            .unwrap();
        assert_eq!(macaroon.authorization(), "FlyV1 fm2_xyz");
    }

    #[test]
    fn missing_or_malformed_settings_are_named() {
        let err = args(None, FlyConfig::DEFAULT_URL)
            .config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("FLY_API_TOKEN is not set"), "{err}");
        let err = args(Some("  "), FlyConfig::DEFAULT_URL)
            .config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("FLY_API_TOKEN"), "{err}");
        let err = args(Some("abc"), "api.machines.dev")
            .config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("FLY_API_URL"), "{err}");
        let err = args(Some("abc"), "ftp://api.machines.dev")
            .config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("http or https"), "{err}");
        assert!(
            !format!(
                "{:?}",
                args(Some("abc"), FlyConfig::DEFAULT_URL).config().unwrap()
            )
            .contains("abc")
        );
    }
}
