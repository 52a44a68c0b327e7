use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{EmailAddress, NewPassword, Password, PersonName, Timestamp};

/// Sign-up details.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RegisterRequest {
    /// Email address to sign in with; unique regardless of letter case.
    pub email: EmailAddress,
    /// Password: 8 to 1024 characters.
    pub password: NewPassword,
    /// The person's name: 1 to 100 characters.
    pub name: PersonName,
}

/// Sign-in details.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct LoginRequest {
    /// Email address the account was registered with.
    pub email: EmailAddress,
    /// The account's password.
    pub password: Password,
}

/// A session: the bearer token and the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// JWT to send as `Authorization: Bearer <accessToken>`; valid for 7 days.
    pub access_token: String,
    /// The signed-in user.
    pub user: User,
}

/// A FasterClaw account, as the account owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::require_every_property)]
pub struct User {
    /// Account id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// The person's name, when given.
    pub name: Option<String>,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When the account last changed.
    pub updated_at: Timestamp,
}

/// A new display name for the signed-in user.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct UpdateProfileRequest {
    /// The person's name: 1 to 100 characters.
    pub name: PersonName,
}

/// A password change.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePasswordRequest {
    /// The password in use now.
    pub current_password: Password,
    /// The new password: 8 to 1024 characters.
    pub new_password: NewPassword,
}

/// What deleting the signed-in account asks for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct DeleteAccountRequest {
    /// The account's password: required for an account that has one. An account that
    /// signs in with Google only sends none, and must have signed in within the last
    /// 10 minutes instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
}
