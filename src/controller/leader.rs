//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go does it: the
//! leader renews the Lease; a standby takes it over once it has seen no renewal for a
//! whole lease duration (by its own clock, so clocks need not agree); a leader that
//! cannot renew within two thirds of the duration stops acting; a leader that shuts
//! down releases the Lease so a standby takes over at once.

use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// One replica's part in the election.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

/// The Lease record as last seen, and when this replica saw it change.
struct Observed {
    record: Option<(Option<String>, Option<String>)>,
    since: Instant,
}

fn micro_now() -> MicroTime {
    MicroTime(
        k8s_openapi::jiff::Timestamp::from_microsecond(Utc::now().timestamp_micros())
            .unwrap_or_default(),
    )
}

impl LeaderElection {
    /// An election over the Lease `name` in `namespace`, for the replica `identity`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity,
            duration,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Campaigns until `shutdown` resolves, keeping `leading` true exactly while this
    /// replica holds the Lease; then releases it if held.
    pub async fn run(
        self,
        leading: watch::Sender<bool>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let retry = self.duration / 5;
        let renew_deadline = self.duration * 2 / 3;
        let mut observed = Observed {
            record: None,
            since: Instant::now(),
        };
        let mut last_renewal = Instant::now();
        tokio::pin!(shutdown);
        loop {
            let was_leading = *leading.borrow();
            match self.try_acquire_or_renew(&mut observed).await {
                Ok(true) => {
                    last_renewal = Instant::now();
                    if !was_leading {
                        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
                    }
                    leading.send_replace(true);
                }
                Ok(false) => {
                    if was_leading {
                        tracing::warn!(identity = %self.identity, "lost the leader Lease to another replica; standing by");
                    }
                    leading.send_replace(false);
                }
                Err(e) => {
                    tracing::warn!(identity = %self.identity, error = %e, "cannot reach the leader Lease");
                    if was_leading && last_renewal.elapsed() > renew_deadline {
                        tracing::warn!(identity = %self.identity, "could not renew the leader Lease in time; standing by");
                        leading.send_replace(false);
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(retry) => {}
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            self.release().await;
        }
    }

    /// One round: `Ok(true)` when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&self, observed: &mut Observed) -> Result<bool, kube::Error> {
        let seconds = i32::try_from(self.duration.as_secs())
            .unwrap_or(i32::MAX)
            .max(1);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(micro_now()),
                    renew_time: Some(micro_now()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0.to_string()),
        );
        if observed.record.as_ref() != Some(&record) {
            observed.record = Some(record);
            observed.since = Instant::now();
        }
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let expired = holder.is_none() || observed.since.elapsed() > self.duration;
        if !mine && !expired {
            return Ok(false);
        }
        let mut next = spec;
        if !mine {
            next.acquire_time = Some(micro_now());
            next.lease_transitions = Some(next.lease_transitions.unwrap_or(0) + 1);
        }
        next.holder_identity = Some(self.identity.clone());
        next.lease_duration_seconds = Some(seconds);
        next.renew_time = Some(micro_now());
        lease.spec = Some(next);
        // The resourceVersion in the body makes this a compare-and-swap.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up, so a standby need not wait for it to expire.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(micro_now());
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(identity = %self.identity, "released the leader Lease"),
            Err(e) => {
                tracing::warn!(identity = %self.identity, error = %e, "cannot release the leader Lease")
            }
        }
    }
}
