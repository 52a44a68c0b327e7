//! Watches: from a resourceVersion (the changes after it), from none (synthetic ADDED
//! events for what exists, then changes), with `sendInitialEvents` (ADDED events, then a
//! bookmark marking their end), bookmarks when asked, `timeoutSeconds`, selectors (an
//! object leaving a selector is DELETED for that watch, one entering it ADDED), and an
//! ERROR 410 Expired event for a resourceVersion older than the change log.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::shared::Shared;
use super::status::ApiError;
use super::store::{Change, EventKind};

/// What a watch asked for.
#[derive(Clone, Debug)]
pub struct WatchRequest {
    /// The type watched (its storage).
    pub resource: Arc<ResourceType>,
    /// The type as the client asked for it, whose form events carry.
    pub view: Arc<ResourceType>,
    /// The namespace, or all.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub allow_bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
}

impl WatchRequest {
    fn selects(&self, object: &Value) -> bool {
        let in_namespace = self
            .namespace
            .as_deref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns));
        in_namespace && self.labels.matches(object) && self.fields.matches(object)
    }

    /// What this watch sees of a change, if anything.
    fn view(&self, change: &Change) -> Option<(EventKind, Value)> {
        if change.key != self.resource.storage_key() {
            return None;
        }
        let now = self.selects(&change.object);
        match change.kind {
            EventKind::Added => now.then(|| (EventKind::Added, change.object.clone())),
            EventKind::Deleted => now.then(|| (EventKind::Deleted, change.object.clone())),
            EventKind::Modified => {
                let before = change.previous.as_ref().is_some_and(|p| self.selects(p));
                match (before, now) {
                    (true, true) => Some((EventKind::Modified, change.object.clone())),
                    (false, true) => Some((EventKind::Added, change.object.clone())),
                    (true, false) => {
                        let mut gone = change.previous.clone().unwrap_or_default();
                        gone["metadata"]["resourceVersion"] = json!(change.revision.to_string());
                        Some((EventKind::Deleted, gone))
                    }
                    (false, false) => None,
                }
            }
        }
    }

    fn line(&self, kind: &str, object: Value) -> Bytes {
        let object = self.view.present(object);
        let mut line =
            serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": revision.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        self.line("BOOKMARK", json!({ "kind": self.view.kind, "apiVersion": self.view.api_version(), "metadata": metadata }))
    }
}

fn expired_line(message: String) -> Bytes {
    let status = ApiError::expired(message).to_status();
    let mut line =
        serde_json::to_vec(&json!({ "type": "ERROR", "object": status })).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Starts a watch and answers with its stream.
pub fn start(shared: Arc<Shared>, request: WatchRequest) -> Response {
    if request.send_initial_events && !request.allow_bookmarks {
        return ApiError::invalid(
            &request.view,
            "",
            vec![super::cause::Cause::new(
                "FieldValueForbidden",
                "allowWatchBookmarks",
                "Forbidden: allowWatchBookmarks required when sendInitialEvents is true",
            )],
        )
        .into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
    let lifetime = shared.watch_lifetime();
    let (backlog, receiver, revision) = {
        let store = shared.store();
        let revision = store.revision();
        let mut backlog = Vec::new();
        let from = request
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty() && *rv != "0");
        match from.map(str::parse::<u64>) {
            Some(Err(_)) => {
                return ApiError::bad_request(format!(
                    "invalid resourceVersion {:?}",
                    request.resource_version
                ))
                .into_response();
            }
            Some(Ok(rv)) if !request.send_initial_events => match store.changes_after(rv) {
                Some(changes) => {
                    for change in changes {
                        if let Some((kind, object)) = request.view(&change) {
                            backlog.push(request.line(kind.as_str(), object));
                        }
                    }
                }
                None => {
                    let line = expired_line(format!(
                        "too old resource version: {rv} ({})",
                        store.compacted()
                    ));
                    return stream_response(futures::stream::iter([Ok::<_, Infallible>(line)]));
                }
            },
            _ => {
                let namespace = request.namespace.as_deref();
                for object in store.list(&request.resource, namespace) {
                    if request.selects(&object) {
                        backlog.push(request.line("ADDED", object));
                    }
                }
                if request.send_initial_events {
                    backlog.push(request.bookmark(revision, true));
                }
            }
        }
        (backlog, store.subscribe(), revision)
    };
    tokio::spawn(pump(
        shared, request, backlog, receiver, revision, lifetime, tx,
    ));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    stream_response(stream)
}

fn stream_response<S, E>(stream: S) -> Response
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn pump(
    shared: Arc<Shared>,
    request: WatchRequest,
    backlog: Vec<Bytes>,
    mut receiver: broadcast::Receiver<Arc<Change>>,
    mut revision: u64,
    lifetime: Option<Duration>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    for line in backlog {
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::Instant::now() + request.timeout;
    let cut = lifetime.map(|l| tokio::time::Instant::now() + l);
    let mut bookmarks = tokio::time::interval(shared.bookmark_interval());
    bookmarks.reset();
    loop {
        let cut_at = async {
            match cut {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = receiver.recv() => match received {
                Ok(change) => {
                    revision = revision.max(change.revision);
                    if let Some((kind, object)) = request.view(&change)
                        && tx.send(Ok(request.line(kind.as_str(), object))).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(Ok(expired_line(format!("too old resource version: {revision}")))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = bookmarks.tick(), if request.allow_bookmarks => {
                if tx.send(Ok(request.bookmark(revision, false))).await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(deadline) => return,
            () = cut_at => {
                let _ = tx.send(Err(std::io::Error::other("watch cut by fault injection"))).await;
                return;
            }
            () = tx.closed() => return,
        }
    }
}
