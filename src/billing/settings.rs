//! Stripe's settings, each from the environment or the flag of the same name. Billing
//! is off without `STRIPE_SECRET_KEY`; the webhook needs `STRIPE_WEBHOOK_SECRET` too.

use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::catalog::Catalog;
use super::lifecycle::Periods;
use super::signature::WebhookVerifier;
use super::stripe::StripeApi;

/// Stripe's settings.
#[derive(Debug, Args)]
pub struct StripeArgs {
    /// Stripe secret API key (`sk_...` or a restricted `rk_...`); billing is off without it.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<SecretString>,

    /// Signing secret of the webhook endpoint (`whsec_...`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<SecretString>,

    /// Stripe API base URL.
    #[arg(long, env = "STRIPE_API_URL", default_value = "https://api.stripe.com")]
    pub stripe_api_url: String,

    /// The plans' prices.
    #[command(flatten)]
    pub prices: PriceArgs,

    /// How old a webhook signature may be before the delivery counts as a replay.
    #[arg(long, env = "STRIPE_WEBHOOK_TOLERANCE", default_value = "300s", value_parser = humantime::parse_duration)]
    pub stripe_webhook_tolerance: Duration,

    /// Longest time one attempt of a Stripe call may take.
    #[arg(long, env = "STRIPE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub stripe_timeout: Duration,
}

/// The billing lifecycle's periods, and how often the facade checks them.
#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// How long the Instances of an account whose subscription is past due or unpaid
    /// keep running before billing stops them.
    #[arg(long, env = "BILLING_GRACE_PERIOD", default_value = "3days", value_parser = humantime::parse_duration)]
    pub billing_grace_period: Duration,

    /// How long after its subscription stopped being ACTIVE an account's Instances (and
    /// their Fly.io apps) are deleted.
    #[arg(long, env = "BILLING_DELETION_DEADLINE", default_value = "30days", value_parser = humantime::parse_duration)]
    pub billing_deletion_deadline: Duration,

    /// How long `GET /billing/subscription` announces the deletion before it happens.
    #[arg(long, env = "BILLING_DELETION_WARNING", default_value = "7days", value_parser = humantime::parse_duration)]
    pub billing_deletion_warning: Duration,

    /// How often the facade checks every account against the lifecycle.
    #[arg(long, env = "BILLING_CHECK_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub billing_check_interval: Duration,
}

impl LifecycleArgs {
    /// The periods and the check's interval, or a one-line error naming the setting.
    pub fn lifecycle(&self) -> Result<(Periods, Duration), String> {
        if self.billing_deletion_warning > self.billing_deletion_deadline {
            return Err(
                "BILLING_DELETION_WARNING must not be longer than BILLING_DELETION_DEADLINE"
                    .to_owned(),
            );
        }
        if self.billing_grace_period > self.billing_deletion_deadline {
            return Err(
                "BILLING_GRACE_PERIOD must not be longer than BILLING_DELETION_DEADLINE".to_owned(),
            );
        }
        if self.billing_check_interval < Duration::from_secs(1) {
            return Err("BILLING_CHECK_INTERVAL must be at least 1s".to_owned());
        }
        if self.billing_deletion_deadline > Duration::from_secs(10 * 365 * 86_400) {
            return Err("BILLING_DELETION_DEADLINE must be at most 10 years".to_owned());
        }
        Ok((
            Periods {
                grace: self.billing_grace_period,
                deletion_deadline: self.billing_deletion_deadline,
                deletion_warning: self.billing_deletion_warning,
            },
            self.billing_check_interval,
        ))
    }
}

/// The Stripe price of each plan.
#[derive(Debug, Args)]
pub struct PriceArgs {
    /// Stripe price of the Starter plan (`price_...`); unset, the plan is not sold.
    #[arg(long, env = "STRIPE_PRICE_ID_STARTER")]
    pub stripe_price_id_starter: Option<String>,

    /// Stripe price of the Pro plan.
    #[arg(long, env = "STRIPE_PRICE_ID_PRO")]
    pub stripe_price_id_pro: Option<String>,

    /// Stripe price of the Enterprise plan.
    #[arg(long, env = "STRIPE_PRICE_ID_ENTERPRISE")]
    pub stripe_price_id_enterprise: Option<String>,
}

impl PriceArgs {
    /// The catalog, or a one-line error naming a malformed price.
    pub fn catalog(&self) -> Result<Catalog, String> {
        let price = |value: &Option<String>, var: &str| -> Result<Option<String>, String> {
            match value.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    Ok(Some(id.to_owned()))
                }
                Some(_) => Err(format!(
                    "{var} must be a Stripe price id (letters, digits and _, like price_1Abc)"
                )),
            }
        };
        Ok(Catalog::new(
            price(&self.stripe_price_id_starter, "STRIPE_PRICE_ID_STARTER")?,
            price(&self.stripe_price_id_pro, "STRIPE_PRICE_ID_PRO")?,
            price(
                &self.stripe_price_id_enterprise,
                "STRIPE_PRICE_ID_ENTERPRISE",
            )?,
        ))
    }
}

/// Billing as configured.
#[derive(Clone, Debug, Default)]
pub struct BillingSettings {
    /// Stripe's API, when a key is set.
    pub api: Option<StripeApi>,
    /// The webhook's signature check, when its secret is set.
    pub webhook: Option<WebhookVerifier>,
    /// The plans on sale.
    pub catalog: Catalog,
}

impl StripeArgs {
    /// Checks the settings; the error is one line naming the setting.
    pub fn billing(&self) -> Result<BillingSettings, String> {
        let present = |value: &Option<SecretString>| {
            value
                .as_ref()
                .filter(|v| !v.expose_secret().trim().is_empty())
                .cloned()
        };
        let api = match present(&self.stripe_secret_key) {
            None => None,
            Some(key) => {
                let text = key.expose_secret();
                if !(text.starts_with("sk_") || text.starts_with("rk_")) {
                    return Err(
                        "STRIPE_SECRET_KEY must be a Stripe secret key (sk_... or rk_...)"
                            .to_owned(),
                    );
                }
                if self.stripe_timeout.is_zero() {
                    return Err("STRIPE_TIMEOUT must be more than 0".to_owned());
                }
                Some(StripeApi::new(
                    &key,
                    &self.stripe_api_url,
                    self.stripe_timeout,
                )?)
            }
        };
        let webhook = match present(&self.stripe_webhook_secret) {
            None => None,
            Some(secret) => {
                if !secret.expose_secret().starts_with("whsec_") {
                    return Err(
                        "STRIPE_WEBHOOK_SECRET must be an endpoint signing secret (whsec_...)"
                            .to_owned(),
                    );
                }
                if self.stripe_webhook_tolerance < Duration::from_secs(1) {
                    return Err("STRIPE_WEBHOOK_TOLERANCE must be at least 1s".to_owned());
                }
                Some(WebhookVerifier::new(secret, self.stripe_webhook_tolerance))
            }
        };
        let catalog = self.prices.catalog()?;
        Ok(BillingSettings {
            api,
            webhook,
            catalog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(grace: &str, deadline: &str, warning: &str, interval: &str) -> LifecycleArgs {
        let parse = |text: &str| humantime::parse_duration(text).unwrap();
        LifecycleArgs {
            billing_grace_period: parse(grace),
            billing_deletion_deadline: parse(deadline),
            billing_deletion_warning: parse(warning),
            billing_check_interval: parse(interval),
        }
    }

    #[test]
    fn the_lifecycle_periods_must_fit_in_one_another() {
        let (periods, interval) = args("3days", "30days", "7days", "5m").lifecycle().unwrap();
        assert_eq!(periods.grace, Duration::from_secs(3 * 86_400));
        assert_eq!(periods.deletion_warning, Duration::from_secs(7 * 86_400));
        assert_eq!(interval, Duration::from_secs(300));
        let refusal = |a: LifecycleArgs| a.lifecycle().unwrap_err();
        assert!(
            refusal(args("3days", "5days", "7days", "5m")).starts_with("BILLING_DELETION_WARNING")
        );
        assert!(refusal(args("10days", "5days", "1day", "5m")).starts_with("BILLING_GRACE_PERIOD"));
        assert!(refusal(args("1s", "5s", "1s", "500ms")).starts_with("BILLING_CHECK_INTERVAL"));
    }
}
