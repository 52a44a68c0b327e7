//! Where an Instance's Telegram token comes from: the sealed row the facade stored, or
//! a key of a Kubernetes Secret in its namespace.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secrecy::SecretString;

use super::error::Error;
use crate::crd::Instance;
use crate::crypto::Keyring;
use crate::db::{Database, StoreError};

/// Why the token cannot be had: something its owner must fix.
#[derive(Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// The Instance's Telegram token, or why it cannot be had. `Err` is for failures that
/// may pass (the database or the API server unreachable).
pub async fn resolve(
    instance: &Instance,
    client: &kube::Client,
    db: &Database,
    keyring: &Keyring,
) -> Result<Result<SecretString, Unavailable>, Error> {
    let source = &instance.spec.telegram_token;
    let namespace = instance.metadata.namespace.as_deref().unwrap_or_default();
    if let Some(id) = source.stored_secret_id {
        // Only the token stored for this Instance opens for it: a name in another
        // Instance's spec does not reach another customer's token.
        let name = instance.metadata.name.as_deref().unwrap_or_default();
        return match db
            .secrets(keyring)
            .telegram_token_of(id, namespace, name)
            .await
        {
            Ok(token) => Ok(Ok(token)),
            Err(StoreError::NotFound(_)) => Ok(Err(Unavailable(format!(
                "the stored token {id} does not exist; recreate the instance or set a new token"
            )))),
            Err(StoreError::NotYours(_)) => Ok(Err(Unavailable(format!(
                "the stored token {id} was stored for another instance; an Instance may only name the token stored for it"
            )))),
            Err(StoreError::Secret { id, .. }) => Ok(Err(Unavailable(format!(
                "the stored token {id} does not open with ENCRYPTION_KEY or ENCRYPTION_KEYS_PREVIOUS"
            )))),
            Err(e) => Err(e.into()),
        };
    }
    let Some(reference) = &source.secret_key_ref else {
        return Ok(Err(Unavailable(
            "spec.telegramToken names no source".to_owned(),
        )));
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        return Ok(Err(Unavailable(format!(
            "Secret {namespace}/{} does not exist",
            reference.name
        ))));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .map(|bytes| bytes.0.clone());
    match value {
        None => Ok(Err(Unavailable(format!(
            "Secret {namespace}/{} has no key {:?}",
            reference.name, reference.key
        )))),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) if !text.trim().is_empty() => {
                Ok(Ok(SecretString::from(text.trim().to_owned())))
            }
            _ => Ok(Err(Unavailable(format!(
                "key {:?} of Secret {namespace}/{} is empty or not text",
                reference.key, reference.name
            )))),
        },
    }
}
