//! The marker secret that makes an app an Instance's own: which markers an app carries,
//! read from Fly.io, as they concern one Instance.

use super::naming::{MARKER_PREFIX, marker_secret};
use crate::fly::{FlyClient, FlyError};

/// The marker secrets an app carries, as they concern one Instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Markers {
    /// The Instance's own.
    pub ours: bool,
    /// Another Instance's, by name.
    pub foreign: Option<String>,
}

impl Markers {
    /// The markers among the app secrets `names`, for the Instance `uid`.
    pub fn among<'a>(names: impl IntoIterator<Item = &'a str>, uid: &str) -> Self {
        let ours = marker_secret(uid);
        let mut markers = Self::default();
        for name in names {
            if name == ours {
                markers.ours = true;
            } else if name.starts_with(MARKER_PREFIX) && markers.foreign.is_none() {
                markers.foreign = Some(name.to_owned());
            }
        }
        markers
    }
}

/// The marker secrets `app` carries, as they concern the Instance `uid`.
pub async fn markers(fly: &FlyClient, app: &str, uid: &str) -> Result<Markers, FlyError> {
    let secrets = fly.list_secrets(app).await?;
    Ok(Markers::among(secrets.iter().map(|s| s.name.as_str()), uid))
}
