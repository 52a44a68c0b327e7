//! The Helm chart, installed with Helm's own library (helm-sdkpy) on a real
//! kube-apiserver that enforces RBAC: with the defaults and with every option on, its
//! objects are the expected kinds, its roles grant exactly the documented rules, no
//! secret value is rendered, every container is locked down and probed; and the
//! controller and the facade, run with the tokens of the chart's ServiceAccounts, do
//! their whole job with those rights and no more.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::facade::{sign_up, telegram};
use crate::support::cluster::TestCluster;
use crate::support::stack::{Stack, TOKEN, running};

const HOW_TO_RUN: &str = "helm-sdkpy is not installed: run ./scripts/test (it installs it), or \
                          `pip install --ignore-requires-python helm-sdkpy`";
const NEEDS_REAL: &str = "the chart is installed on a real kube-apiserver: set KUBEBUILDER_ASSETS \
                          (./scripts/test does)";
/// The Secret the chart's pods read their secret settings from.
const SECRET: &str = "fasterclaw-settings";

/// The settings that are secrets: each must come from the Secret, never as a value.
const SECRET_SETTINGS: [&str; 11] = [
    "DATABASE_URL",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS_PREVIOUS",
    "FLY_API_TOKEN",
    "API_JWT_SECRET",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GOOGLE_API_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "LEGACY_API_JWT_SECRET",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What Helm installed: the objects of the manifest and of the hooks.
#[derive(Debug)]
struct Release {
    objects: Vec<Value>,
    hooks: Vec<Value>,
}

impl Release {
    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or("").to_owned())
            .collect();
        kinds.sort();
        kinds
    }

    fn named(&self, kind: &str, suffix: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("no {kind} named *{suffix}"))
    }

    fn pod_specs(&self) -> Vec<&Value> {
        self.objects
            .iter()
            .chain(&self.hooks)
            .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "Job")))
            .map(|o| &o["spec"]["template"]["spec"])
            .collect()
    }
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| {
            yaml_serde::from_str::<Value>(d)
                .unwrap_or_else(|e| panic!("a YAML document ({e}):\n{d}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// `helm install`, completing the migrations hook Job as a cluster would (the test
/// server runs no pods), then the release's objects.
async fn install(cluster: &TestCluster, release: &str, values: Value) -> Result<Release, String> {
    let probe = Command::new("python3")
        .args(["-c", "import helm_sdkpy"])
        .output();
    assert!(probe.is_ok_and(|o| o.status.success()), "{HOW_TO_RUN}");
    let mut child = Command::new("python3")
        .arg(root().join("scripts/checks/chart.py"))
        .arg("install")
        .arg(&cluster.kubeconfig)
        .arg(&cluster.namespace)
        .arg(release)
        .arg(values.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("the install runs").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "helm install did not finish in 120 s"
        );
        for job in jobs
            .list(&Default::default())
            .await
            .expect("jobs list")
            .items
        {
            let done = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0;
            if !done {
                complete(&jobs, job.metadata.name.as_deref().unwrap_or_default()).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let output = child.wait_with_output().expect("the install's output");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let printed: Value = serde_json::from_slice(&output.stdout).expect("the release as JSON");
    Ok(Release {
        objects: documents(printed["manifest"].as_str().unwrap_or_default()),
        hooks: printed["hooks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|h| documents(h.as_str().unwrap_or_default()))
            .collect(),
    })
}

/// Marks a Job succeeded, as the Job controller does when its pod exits 0.
async fn complete(jobs: &Api<Job>, name: &str) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let condition = |kind: &str| {
        json!({ "type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods" })
    };
    let status = json!({ "status": {
        "startTime": now, "completionTime": now, "succeeded": 1, "active": 0, "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
    }});
    if let Err(e) = jobs
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        panic!("the Job {name} cannot be marked complete: {e}");
    }
}

fn rules(role: &Value) -> Vec<(Vec<String>, Vec<String>, BTreeSet<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                strings(&r["apiGroups"]),
                strings(&r["resources"]),
                strings(&r["verbs"]).into_iter().collect(),
            )
        })
        .collect()
}

fn rule(
    groups: &[&str],
    resources: &[&str],
    verbs: &[&str],
) -> (Vec<String>, Vec<String>, BTreeSet<String>) {
    let owned = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    (
        owned(groups),
        owned(resources),
        verbs.iter().map(|s| (*s).to_owned()).collect(),
    )
}

/// The checks every rendering must pass.
fn check_common(release: &Release, cluster_wide: bool) {
    let controller_kind = if cluster_wide { "ClusterRole" } else { "Role" };
    let controller = release
        .objects
        .iter()
        .find(|o| {
            o["kind"] == controller_kind
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-controller"))
        })
        .expect("the controller's role");
    assert_eq!(
        rules(controller),
        vec![
            rule(
                &["fasterclaw.io"],
                &["instances"],
                &["get", "list", "watch", "patch"]
            ),
            rule(
                &["fasterclaw.io"],
                &["instances/status", "instances/finalizers"],
                &["patch"]
            ),
            rule(&[""], &["secrets"], &["get", "list", "watch"]),
            rule(&["events.k8s.io"], &["events"], &["create", "patch"]),
        ]
    );
    assert_eq!(
        rules(release.named("Role", "-controller-leader-election")),
        vec![rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["get", "create", "update"]
        )]
    );
    assert_eq!(
        rules(release.named("Role", "-api")),
        vec![rule(
            &["fasterclaw.io"],
            &["instances"],
            &[
                "get",
                "list",
                "watch",
                "create",
                "patch",
                "delete",
                "deletecollection"
            ]
        )]
    );
    // No Secret is rendered, and every secret setting comes from the existing Secret.
    assert!(
        release
            .objects
            .iter()
            .chain(&release.hooks)
            .all(|o| o["kind"] != "Secret")
    );
    let specs = release.pod_specs();
    assert_eq!(specs.len(), 3, "the two Deployments and the migrations Job");
    for spec in specs {
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        for container in spec["containers"].as_array().expect("containers") {
            let context = &container["securityContext"];
            assert_eq!(context["allowPrivilegeEscalation"], false);
            assert_eq!(context["readOnlyRootFilesystem"], true);
            assert_eq!(context["capabilities"]["drop"], json!(["ALL"]));
            assert!(container["resources"]["limits"]["memory"].is_string());
            for variable in container["env"].as_array().into_iter().flatten() {
                let name = variable["name"].as_str().unwrap_or_default();
                if SECRET_SETTINGS.contains(&name) {
                    assert!(
                        variable.get("value").is_none(),
                        "{name} is rendered as a value"
                    );
                    assert_eq!(
                        variable["valueFrom"]["secretKeyRef"]["name"], SECRET,
                        "{name}"
                    );
                    assert_eq!(variable["valueFrom"]["secretKeyRef"]["key"], name);
                }
            }
            if container["args"][0] != "migrate" {
                assert!(container["livenessProbe"]["httpGet"]["path"].is_string());
                assert!(container["readinessProbe"]["httpGet"]["path"].is_string());
            }
        }
    }
    let hook = &release.hooks[0];
    assert_eq!(hook["kind"], "Job");
    assert_eq!(
        hook["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert_eq!(
        hook["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
}

fn release_name() -> String {
    format!("fc{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_with_its_defaults_and_with_every_option() {
    let chart_crd =
        std::fs::read_to_string(root().join("charts/fasterclaw/crds/instance.yaml")).unwrap();
    let crd = std::fs::read_to_string(root().join("crds/instance.yaml")).unwrap();
    assert!(
        chart_crd == crd,
        "charts/fasterclaw/crds/instance.yaml differs from crds/instance.yaml: copy it"
    );

    let cluster = TestCluster::new().await;
    assert!(cluster.sim().is_none(), "{NEEDS_REAL}");

    let defaults = install(
        &cluster,
        &release_name(),
        json!({ "existingSecret": SECRET }),
    )
    .await
    .unwrap();
    assert_eq!(
        defaults.kinds(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Deployment",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceAccount"
        ]
    );
    check_common(&defaults, true);

    // Prometheus Operator's ServiceMonitor kind, as a cluster running it has.
    install_service_monitor_crd(&cluster).await;
    let everything = install(
        &cluster,
        &release_name(),
        json!({
            "existingSecret": SECRET,
            "controller": { "watchNamespace": cluster.namespace, "env": { "FLY_ORG_SLUG": "acme", "MAX_CONCURRENT_RECONCILES": 8 } },
            "api": { "instanceNamespace": cluster.namespace, "env": { "STRIPE_PRICE_ID_PRO": "price_1Pro" } },
            "podDisruptionBudget": { "enabled": true },
            "networkPolicy": { "enabled": true, "apiFrom": [{ "namespaceSelector": { "matchLabels": { "name": "ingress" } } }] },
            "ingress": { "enabled": true, "className": "nginx", "host": "api.example.com", "tlsSecretName": "api-tls" },
            "serviceMonitor": { "enabled": true },
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        everything.kinds(),
        [
            "Deployment",
            "Deployment",
            "Ingress",
            "NetworkPolicy",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "Role",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceAccount",
            "ServiceMonitor",
            "ServiceMonitor"
        ]
    );
    check_common(&everything, false);
    let controller = everything.named("Deployment", "-controller");
    let env = &controller["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({ "name": "MAX_CONCURRENT_RECONCILES", "value": "8" }))
    );
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({ "name": "WATCH_NAMESPACE", "value": cluster.namespace }))
    );

    // The schema refuses a secret among the plain settings, and a missing Secret name.
    let refused = install(
        &cluster,
        &release_name(),
        json!({ "existingSecret": SECRET, "api": { "env": { "STRIPE_SECRET_KEY": "sk_live_oops" } } }),
    )
    .await
    .unwrap_err();
    assert!(refused.contains("schema"), "{refused}");
    let refused = install(&cluster, &release_name(), json!({}))
        .await
        .unwrap_err();
    assert!(refused.contains("existingSecret"), "{refused}");
}

async fn install_service_monitor_crd(cluster: &TestCluster) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": { "name": "servicemonitors.monitoring.coreos.com" },
        "spec": {
            "group": "monitoring.coreos.com",
            "names": { "kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors", "singular": "servicemonitor" },
            "scope": "Namespaced",
            "versions": [{ "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } } }],
        },
    }))
    .unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("the ServiceMonitor CRD: {e}"),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let established = api
            .get("servicemonitors.monitoring.coreos.com")
            .await
            .ok()
            .and_then(|c| c.status)
            .is_some_and(|s| {
                s.conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ServiceMonitor CRD was never established"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A kubeconfig for `account`'s token: the chart's rights, nothing more.
async fn kubeconfig_of(cluster: &TestCluster, account: &str, dir: &Path) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let request: TokenRequest =
        serde_json::from_value(json!({ "spec": { "expirationSeconds": 3600 } })).unwrap();
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for {account}: {e}"))
        .status
        .expect("a token")
        .token
        .expect("a token");
    let admin = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let theirs: String = admin
        .lines()
        .map(|line| match line.split_once("token: ") {
            Some((indent, _)) => format!("{indent}token: {token}"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&path, theirs).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_and_the_facade_work_with_only_the_charts_rights() {
    let stack = Stack::new().await;
    assert!(stack.cluster.sim().is_none(), "{NEEDS_REAL}");
    let release = release_name();
    let namespace = stack.cluster.namespace.clone();
    install(
        &stack.cluster,
        &release,
        json!({ "existingSecret": SECRET, "controller": { "watchNamespace": namespace }, "api": { "instanceNamespace": namespace } }),
    )
    .await
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let name = format!("{release}-fasterclaw");
    let controller_config =
        kubeconfig_of(&stack.cluster, &format!("{name}-controller"), files.path()).await;
    let api_config = kubeconfig_of(&stack.cluster, &format!("{name}-api"), files.path()).await;

    let mut controller = stack.controller(&[("KUBECONFIG", &controller_config)]);
    let telegram = telegram().await;
    telegram.add_bot(TOKEN, "support_bot", "Support");
    let facade = stack
        .api(&telegram.base_url(), &[("KUBECONFIG", &api_config)])
        .await;
    let (client, user) = sign_up(&facade.client()).await;
    stack.subscribe(user.id, "pro", 10).await;
    let request =
        serde_json::from_value(json!({ "name": "Least privilege", "telegramBotToken": TOKEN }))
            .unwrap();
    let created = client
        .create_instance(&request)
        .await
        .expect("the facade creates the Instance");
    let name = format!("fc-{}", created.id);
    stack
        .until(&name, Duration::from_secs(60), "RUNNING", running)
        .await;
    client
        .delete_instance(&created.id.to_string())
        .await
        .expect("the facade deletes it");
    stack.until_gone(&name, Duration::from_secs(60)).await;

    for (who, logs) in [("controller", controller.logs()), ("facade", facade.logs())] {
        assert!(
            !logs.to_lowercase().contains("forbidden"),
            "the {who} was refused something:\n{logs}"
        );
    }
    assert!(controller.exited().is_none(), "{}", controller.logs());
}
