//! The controller's writes to an Instance: its finalizer (JSON patches that test what
//! they change, so a stale copy never overwrites a newer one) and its status (server-side
//! apply under the controller's field manager, only when it changed).

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::error::Error;
use crate::crd::{FINALIZER, Instance, InstanceStatus, field_manager};

/// What a finalizer patch found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patched {
    /// The change is made.
    Done,
    /// The Instance changed (or went) under the patch: the change that made the copy
    /// stale is on its way, and with it the next reconcile.
    Stale,
}

/// Adds the finalizer.
pub async fn add_finalizer(api: &Api<Instance>, instance: &Instance) -> Result<Patched, Error> {
    let patch = match &instance.metadata.finalizers {
        None => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ]),
        Some(current) => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER },
        ]),
    };
    json_patch(api, instance, patch).await
}

/// Removes the finalizer, once the Instance's Fly.io resources are gone.
pub async fn remove_finalizer(api: &Api<Instance>, instance: &Instance) -> Result<(), Error> {
    let Some(index) = instance.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let patch = json!([
        { "op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER },
        { "op": "remove", "path": format!("/metadata/finalizers/{index}") },
    ]);
    json_patch(api, instance, patch).await.map(|_| ())
}

async fn json_patch(
    api: &Api<Instance>,
    instance: &Instance,
    patch: serde_json::Value,
) -> Result<Patched, Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
    let written = api
        .patch(
            &instance.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await;
    match written {
        Ok(_) => Ok(Patched::Done),
        // A failed test (422), a conflict (409), or gone already (404).
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => {
            tracing::debug!(instance = %instance.name_any(), code = e.code, "the Instance changed under a finalizer patch");
            Ok(Patched::Stale)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the status with server-side apply, when it differs from the stored one;
/// whether it wrote.
pub async fn status(
    api: &Api<Instance>,
    instance: &Instance,
    status: &InstanceStatus,
) -> Result<bool, Error> {
    if instance.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let body = json!({
        "apiVersion": Instance::api_version(&()),
        "kind": Instance::kind(&()),
        "status": status,
    });
    api.patch_status(
        &instance.name_any(),
        &PatchParams::apply(field_manager::CONTROLLER).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(true)
}
