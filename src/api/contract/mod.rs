//! Request and response bodies of the facade, with the JSON field names and shapes the
//! web app already uses.

mod auth;
mod billing;
mod common;
mod instances;
mod snapshots;

pub use auth::{
    DeleteAccountRequest, LoginRequest, RegisterRequest, TokenResponse, UpdatePasswordRequest,
    UpdateProfileRequest, User,
};
pub use billing::{
    BillingLapse, CheckoutRequest, CheckoutResponse, InstanceUsage, Invoice, InvoiceList, Plan,
    PlanConfig, Plans, PortalResponse, StripeEvent, StripeEventData, Subscription,
    SubscriptionResponse, WebhookReceived,
};
pub use common::{
    ErrorBody, HealthResponse, HealthStatus, MessageResponse, ReadyResponse, SuccessResponse,
};
pub use instances::{
    CreateInstanceRequest, HealthState, HealthView, InstanceList, InstanceResponse,
    PairingApprovalResponse, PairingRequestList, PairingRequestView, ProvisioningStatusResponse,
    TokenToCheck, UpdateInstanceRequest, ValidateTelegramTokenRequest,
    ValidateTelegramTokenResponse,
};
pub use snapshots::{
    RestoreResponse, RestoreState, RestoreView, RetainedVolumeView, SnapshotList, SnapshotView,
    VolumeView,
};

use crate::domain::require_every_property;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::Phase;

    const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn create_request_defaults_region_and_model() {
        let request: CreateInstanceRequest =
            serde_json::from_value(json!({ "name": "Bot", "telegramBotToken": TOKEN })).unwrap();
        assert_eq!(request.region.as_str(), "lax");
        assert_eq!(request.ai_model.as_str(), "claude-sonnet-5");
    }

    #[test]
    fn create_request_errors_name_the_rule() {
        let err = serde_json::from_value::<CreateInstanceRequest>(
            json!({ "name": "Bot", "telegramBotToken": "short:abc" }),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("40 to 100 characters"), "{err}");
        let err = serde_json::from_value::<CreateInstanceRequest>(
            json!({ "name": "Bot", "telegramBotToken": TOKEN, "aiModel": "llama-3" }),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gpt-, claude-, gemini- or o1-"), "{err}");
    }

    #[test]
    fn update_request_takes_any_subset() {
        let empty: UpdateInstanceRequest = serde_json::from_value(json!({})).unwrap();
        assert!(empty.is_empty());
        let named: UpdateInstanceRequest =
            serde_json::from_value(json!({ "name": "New name", "unknown": 1 })).unwrap();
        assert_eq!(named.name.unwrap().as_str(), "New name");
    }

    #[test]
    fn requests_never_debug_print_secrets() {
        let request: CreateInstanceRequest =
            serde_json::from_value(json!({ "name": "Bot", "telegramBotToken": TOKEN })).unwrap();
        assert!(!format!("{request:?}").contains("AAHdqTcv"));
        let check: ValidateTelegramTokenRequest =
            serde_json::from_value(json!({ "token": TOKEN })).unwrap();
        assert!(!format!("{check:?}").contains("AAHdqTcv"));
        let err = serde_json::from_value::<ValidateTelegramTokenRequest>(json!({ "token": "" }))
            .unwrap_err();
        assert!(err.to_string().contains("Token is required"));
    }

    #[test]
    fn instance_responses_keep_every_field_present_with_nulls() {
        let response = InstanceResponse {
            id: uuid::Uuid::nil(),
            user_id: uuid::Uuid::nil(),
            name: "Bot".into(),
            provider: "fly".into(),
            fly_app_name: None,
            fly_machine_id: None,
            docker_container_id: None,
            docker_port: None,
            status: Phase::Creating,
            region: "lax".into(),
            ai_model: "claude-sonnet-5".into(),
            ai_provider: crate::domain::AiProvider::Anthropic,
            telegram_user_ids: Vec::new(),
            telegram_bot_token: crate::domain::mask_token(TOKEN),
            ip_address: None,
            stop_reason: None,
            created_at: crate::domain::Timestamp::now(),
            updated_at: crate::domain::Timestamp::now(),
            health: None,
        };
        let value = serde_json::to_value(&response).unwrap();
        assert_eq!(value["flyAppName"], json!(null));
        assert_eq!(value["status"], json!("CREATING"));
        assert_eq!(value["telegramBotToken"], json!("110201543:...Dsaw"));
        let schema = schemars::schema_for!(InstanceResponse);
        let required = schema.get("required").unwrap().as_array().unwrap();
        assert_eq!(required.len(), value.as_object().unwrap().len());
    }
}
