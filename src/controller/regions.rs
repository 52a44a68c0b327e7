//! The regions an Instance may run in, in order, and the ones left out of the rotation
//! for a while because Fly.io said the organization's quota there is spent.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::crd::InstanceSpec;

/// Regions out of the rotation, until when.
#[derive(Debug, Default)]
pub struct Regions {
    cooling: Mutex<HashMap<String, Instant>>,
}

impl Regions {
    /// Leaves `region` out for `period`.
    pub fn cool_down(&self, region: &str, period: Duration) {
        let until = Instant::now() + period;
        self.cooling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(region.to_owned(), until);
    }

    /// Whether `region` is out of the rotation now.
    pub fn is_cooling(&self, region: &str) -> bool {
        let mut cooling = self.cooling.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        cooling.retain(|_, until| *until > now);
        cooling.contains_key(region)
    }

    /// The Instance's regions in order (`region`, then `fallbackRegions`, each once),
    /// without those out of the rotation; with `after` (the region that just proved
    /// full), the ones after it, then those before it, without it.
    pub fn rotation(&self, spec: &InstanceSpec, after: Option<&str>) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for region in std::iter::once(&spec.region).chain(&spec.fallback_regions) {
            if !all.iter().any(|r| r == region.as_str()) {
                all.push(region.as_str().to_owned());
            }
        }
        if let Some(at) = after.and_then(|after| all.iter().position(|r| r == after)) {
            all.rotate_left(at);
            all.remove(0);
        }
        all.into_iter().filter(|r| !self.is_cooling(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(region: &str, fallbacks: &[&str]) -> InstanceSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Bot",
            "ownerId": "u1",
            "region": region,
            "fallbackRegions": fallbacks,
            "telegramToken": { "secretKeyRef": { "name": "bot", "key": "token" } },
        }))
        .unwrap()
    }

    #[test]
    fn the_rotation_follows_the_spec_skipping_repeats_and_cooling_regions() {
        let regions = Regions::default();
        let spec = spec("iad", &["ord", "iad", "ewr"]);
        assert_eq!(regions.rotation(&spec, None), ["iad", "ord", "ewr"]);
        assert_eq!(regions.rotation(&spec, Some("iad")), ["ord", "ewr"]);
        assert_eq!(regions.rotation(&spec, Some("ord")), ["ewr", "iad"]);
        assert_eq!(regions.rotation(&spec, Some("ams")), ["iad", "ord", "ewr"]);
        regions.cool_down("ord", Duration::from_secs(60));
        assert_eq!(regions.rotation(&spec, None), ["iad", "ewr"]);
        regions.cool_down("ewr", Duration::ZERO);
        assert_eq!(regions.rotation(&spec, None), ["iad", "ewr"]);
    }
}
