//! Discovery, errors and health, as clients find them.

use kube::discovery::Discovery;
use reqwest::Method;

use super::kube;

#[tokio::test]
async fn discovery_lists_the_instance_resource() {
    let kube = kube().await;
    let discovery = Discovery::new(kube.client.clone()).run().await.unwrap();
    let group = discovery
        .groups()
        .find(|g| g.name() == "fasterclaw.io")
        .expect("the group is served");
    let (resource, capabilities) = group
        .recommended_kind("Instance")
        .expect("Instance is served");
    assert_eq!(resource.plural, "instances");
    assert!(
        capabilities
            .subresources
            .iter()
            .any(|(r, _)| r.plural == "instances/status" || r.plural == "status")
    );
    assert!(
        discovery
            .groups()
            .any(|g| g.name() == "coordination.k8s.io")
    );
    assert!(discovery.groups().any(|g| g.name() == "events.k8s.io"));

    let (status, list) = kube
        .raw(Method::GET, "/apis/fasterclaw.io/v1alpha1", "", None)
        .await;
    assert_eq!(status, 200);
    let instances = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "instances")
        .unwrap();
    assert_eq!(instances["shortNames"][0], "fci");
    assert_eq!(instances["categories"][0], "fasterclaw");
    assert_eq!(instances["namespaced"], true);
}

#[tokio::test]
async fn version_health_and_unknown_paths() {
    let kube = kube().await;
    let version = kube.client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(kube.raw(Method::GET, path, "", None).await.0, 200);
    }
    let (status, body) = kube
        .raw(Method::GET, "/apis/nothing.example.com/v1/things", "", None)
        .await;
    // The real server's mux answers paths that serve nothing in plain text.
    assert_eq!(status, 404);
    assert_eq!(body, "404 page not found\n");
}

#[tokio::test]
async fn the_openapi_document_describes_instances_for_kubectl_explain() {
    let kube = kube().await;
    let (_, index) = kube.raw(Method::GET, "/openapi/v3", "", None).await;
    let url = index["paths"]["apis/fasterclaw.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, doc) = kube.raw(Method::GET, &url, "", None).await;
    assert_eq!(status, 200);
    let schema = &doc["components"]["schemas"]["io.fasterclaw.v1alpha1.Instance"];
    assert!(
        schema["properties"]["spec"]["properties"]["aiModel"]["description"]
            .as_str()
            .unwrap()
            .contains("gpt-")
    );
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Instance"
    );
}
