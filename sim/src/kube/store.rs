//! The store: objects of every served type, one global resource version (as etcd's
//! revision), and the recent change log that watches resume from and that lists at an
//! earlier revision (`resourceVersionMatch=Exact`, `continue`) are rebuilt from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::{ResourceType, builtins};

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Gone.
    Deleted,
}

impl EventKind {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Clone, Debug)]
pub struct Change {
    /// The resource version of the change.
    pub revision: u64,
    /// Storage key of the resource type: (group, plural).
    pub key: (String, String),
    /// What happened.
    pub kind: EventKind,
    /// The object after the change (its last state, for deletions).
    pub object: Value,
    /// The object as it was stored before a modification or deletion.
    pub previous: Option<Value>,
}

type ObjectKey = (String, String);

/// An object's namespace (empty when cluster-scoped) and name.
pub fn object_key(object: &Value) -> ObjectKey {
    let text = |key: &str| {
        object["metadata"][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (text("namespace"), text("name"))
}

/// Everything the server stores.
#[derive(Debug)]
pub struct Store {
    revision: u64,
    types: Vec<Arc<ResourceType>>,
    objects: BTreeMap<(String, String), BTreeMap<ObjectKey, Value>>,
    log: VecDeque<Arc<Change>>,
    log_capacity: usize,
    compacted: u64,
    sender: broadcast::Sender<Arc<Change>>,
}

impl Store {
    /// An empty store serving the built-in types, keeping the last `log_capacity`
    /// changes for watches.
    pub fn new(log_capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self {
            revision: 1,
            types: builtins().into_iter().map(Arc::new).collect(),
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            compacted: 1,
            sender,
        }
    }

    /// The current resource version.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The newest revision no longer in the change log: watches must start after it.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Forgets the change log, as etcd compaction does.
    pub fn compact(&mut self) {
        self.log.clear();
        self.compacted = self.revision;
    }

    /// Every served type.
    pub fn types(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The served type at `group/version/plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// Serves the types of a CustomResourceDefinition, replacing earlier versions of it.
    pub fn register(&mut self, types: Vec<ResourceType>) {
        if let Some(first) = types.first() {
            let key = first.storage_key();
            self.types.retain(|t| !(t.custom && t.storage_key() == key));
        }
        self.types.extend(types.into_iter().map(Arc::new));
    }

    /// Stops serving a custom resource; returns its objects, which the caller deletes.
    pub fn unregister(&mut self, group: &str, plural: &str) -> Vec<Value> {
        self.types
            .retain(|t| !(t.custom && t.group == group && t.plural == plural));
        self.objects
            .get(&(group.to_owned(), plural.to_owned()))
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One object.
    pub fn get(&self, resource: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&resource.storage_key())?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The objects of a type, in one namespace or all, ordered by namespace and name.
    pub fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .get(&resource.storage_key())
            .map(|objects| {
                objects
                    .iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a namespace holds any object.
    pub fn namespace_is_empty(&self, namespace: &str) -> bool {
        self.objects
            .values()
            .all(|objects| objects.keys().all(|(ns, _)| ns != namespace))
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.log.push_back(change.clone());
        while self.log.len() > self.log_capacity {
            if let Some(dropped) = self.log.pop_front() {
                self.compacted = dropped.revision;
            }
        }
        // No receiver is not an error.
        let _ = self.sender.send(change);
    }

    /// Stores an object at a new revision and records the change; returns it as stored.
    pub fn put(
        &mut self,
        resource: &ResourceType,
        mut object: Value,
        previous: Option<Value>,
    ) -> Value {
        self.revision += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.revision.to_string());
        self.objects
            .entry(resource.storage_key())
            .or_default()
            .insert(object_key(&object), object.clone());
        self.record(Change {
            revision: self.revision,
            key: resource.storage_key(),
            kind: if previous.is_some() {
                EventKind::Modified
            } else {
                EventKind::Added
            },
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes an object at a new revision and records the deletion; returns it.
    pub fn remove(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let stored = self
            .objects
            .get_mut(&resource.storage_key())?
            .remove(&(namespace.to_owned(), name.to_owned()))?;
        self.revision += 1;
        let mut object = stored.clone();
        object["metadata"]["resourceVersion"] = Value::String(self.revision.to_string());
        self.record(Change {
            revision: self.revision,
            key: resource.storage_key(),
            kind: EventKind::Deleted,
            object: object.clone(),
            previous: Some(stored),
        });
        Some(object)
    }

    /// The changes after `revision`, or `None` when some are compacted away.
    pub fn changes_after(&self, revision: u64) -> Option<Vec<Arc<Change>>> {
        if revision < self.compacted {
            return None;
        }
        Some(
            self.log
                .iter()
                .filter(|c| c.revision > revision)
                .cloned()
                .collect(),
        )
    }

    /// Subscribes to every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }

    /// The objects of a type as they were at `revision`, in one namespace or all,
    /// ordered by namespace and name; `None` when the changes since then are no longer
    /// kept (410 Expired on a real server).
    pub fn list_at(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        revision: u64,
    ) -> Option<Vec<Value>> {
        if revision < self.compacted {
            return None;
        }
        let key = resource.storage_key();
        let mut objects = self.objects.get(&key).cloned().unwrap_or_default();
        for change in self.log.iter().rev() {
            if change.revision <= revision {
                break;
            }
            if change.key != key {
                continue;
            }
            match (&change.kind, &change.previous) {
                (EventKind::Added, _) => {
                    objects.remove(&object_key(&change.object));
                }
                (_, Some(previous)) => {
                    objects.insert(object_key(previous), previous.clone());
                }
                (_, None) => {}
            }
        }
        Some(
            objects
                .into_iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                .map(|(_, o)| o)
                .collect(),
        )
    }

    /// Every object whose `ownerReferences` name `uid`, with its type.
    pub fn dependents_of(&self, uid: &str) -> Vec<(Arc<ResourceType>, Value)> {
        let mut found = Vec::new();
        for (key, objects) in &self.objects {
            let Some(resource) = self.types.iter().find(|t| &t.storage_key() == key) else {
                continue;
            };
            for object in objects.values() {
                let owned = object["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
                if owned {
                    found.push((resource.clone(), object.clone()));
                }
            }
        }
        found
    }

    /// Whether any stored object has `uid`.
    pub fn has_uid(&self, uid: &str) -> bool {
        self.objects
            .values()
            .flat_map(BTreeMap::values)
            .any(|o| o["metadata"]["uid"] == uid)
    }
}
