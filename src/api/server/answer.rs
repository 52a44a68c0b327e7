//! Waiting for the controller's answer: the facade asks through an Instance's
//! annotations and reads the answer from its status in the cache, for as long as a
//! request may wait (`REQUEST_TIMEOUT` less a margin).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::state::AppState;
use crate::crd::Instance;

/// How often the cache is looked at while waiting for the controller.
const POLL: Duration = Duration::from_millis(200);

/// The Instance `name` once `answered` holds of it, or `None` when the controller has
/// not answered within the facade's wait.
pub(super) async fn wait_for(
    state: &AppState,
    name: &str,
    answered: impl Fn(&Instance) -> bool,
) -> Option<Arc<Instance>> {
    let deadline = Instant::now() + state.controller_wait;
    loop {
        if let Some(instance) = state.cache.get(name)
            && answered(&instance)
        {
            return Some(instance);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
