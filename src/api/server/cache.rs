//! The facade's view of Instances: a kube-runtime reflector cache (reads never call the
//! Kubernetes API), overlaid with the facade's own recent writes so a client sees what
//! it just did before the watch brings it back. When an Instance leaves the cluster
//! (its finalizer released once Fly.io is clean), its record is marked deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::crd::{Instance, label};
use crate::crypto::Keyring;
use crate::db::Database;

/// How long after its record a new Instance may take to appear in a list.
const RECENT: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The cache.
pub struct InstanceCache {
    store: Store<Instance>,
    namespace: String,
    recent: Mutex<HashMap<String, Arc<Instance>>>,
    synced: AtomicBool,
}

impl std::fmt::Debug for InstanceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceCache")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn version(instance: &Instance) -> u64 {
    instance
        .resource_version()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

impl InstanceCache {
    /// Starts watching the facade's Instances in `namespace`; the task marks records
    /// deleted as their Instances go.
    pub fn start(
        client: kube::Client,
        namespace: &str,
        db: Database,
        keyring: Keyring,
    ) -> Arc<Self> {
        let api: Api<Instance> = Api::namespaced(client, namespace);
        let (reader, writer) = reflector::store();
        let watched = api.clone();
        let cache = Arc::new(Self {
            store: reader,
            namespace: namespace.to_owned(),
            recent: Mutex::new(HashMap::new()),
            synced: AtomicBool::new(false),
        });
        let config = watcher::Config::default().labels(&label::managed());
        let stream = watcher(watched, config)
            .default_backoff()
            .modify(|i| i.managed_fields_mut().clear())
            .reflect(writer);
        let task_cache = cache.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut listed_from = chrono::Utc::now();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Init) => listed_from = chrono::Utc::now(),
                    Ok(watcher::Event::InitDone) => {
                        task_cache.synced.store(true, Ordering::SeqCst);
                        // A (re-)list brings no Delete for what went while the watch was
                        // down: records of Instances that are gone are marked here.
                        if let Err(e) = task_cache
                            .mark_vanished(&api, &db, &keyring, listed_from)
                            .await
                        {
                            tracing::warn!(error = %e, "cannot mark the records of vanished Instances");
                        }
                    }
                    Ok(watcher::Event::Delete(instance)) => {
                        task_cache.forget(&instance.name_any());
                        let records = db.instances(&keyring);
                        if let Ok(Some(record)) = records
                            .find_by_name(&task_cache.namespace, &instance.name_any())
                            .await
                        {
                            let _ = records.mark_deleted(record.id).await;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the Instance watch failed; retrying"),
                }
            }
        });
        cache
    }

    /// Marks deleted the records of Instances the list just read did not hold and the
    /// API server confirms gone. Records made within [`RECENT`] of the list are left
    /// alone: their Instance may be on its way.
    async fn mark_vanished(
        &self,
        api: &Api<Instance>,
        db: &Database,
        keyring: &Keyring,
        listed_from: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        let records = db.instances(keyring);
        let before = listed_from - RECENT;
        let live = records
            .live_in_namespace(&self.namespace, before)
            .await
            .map_err(|e| e.to_string())?;
        for (id, name) in live {
            let listed = self
                .store
                .get(&ObjectRef::new(&name).within(&self.namespace))
                .is_some();
            if listed {
                continue;
            }
            match api.get_opt(&name).await {
                Ok(None) => {
                    tracing::info!(instance = %name, "the Instance is gone: its record is marked deleted");
                    self.forget(&name);
                    records.mark_deleted(id).await.map_err(|e| e.to_string())?;
                }
                Ok(Some(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Whether the first list has been read.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// The Instance `name`: the newer of the cache's copy and the facade's last write.
    pub fn get(&self, name: &str) -> Option<Arc<Instance>> {
        let cached = self
            .store
            .get(&ObjectRef::new(name).within(&self.namespace));
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        match (cached, recent.get(name).cloned()) {
            (Some(cached), Some(written)) if version(&cached) >= version(&written) => {
                recent.remove(name);
                Some(cached)
            }
            (_, Some(written)) => Some(written),
            (cached, None) => cached,
        }
    }

    /// Remembers the facade's own write, until the cache has it.
    pub fn remember(&self, instance: Instance) {
        let name = instance.name_any();
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() > 10_000 {
            recent.clear();
        }
        recent.insert(name, Arc::new(instance));
    }

    /// Forgets a recent write (the Instance is gone).
    pub fn forget(&self, name: &str) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}
