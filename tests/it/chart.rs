//! The Helm chart, installed with Helm's own library (helm-sdkpy) on a real
//! kube-apiserver that enforces RBAC: with the defaults and with every option on, its
//! objects are the expected kinds, its roles grant exactly the documented rules (in the
//! watched namespace unless every namespace is asked for), no secret value is rendered,
//! every container is locked down and probed, metrics have ports and Services of their
//! own, and the NetworkPolicies let out only what is documented; the controller and the
//! facade, run with the tokens and the settings of the chart's ServiceAccounts and
//! Deployments, do their whole job with those rights and no more; and the admission
//! policy keeps `spec.adopt` and `spec.image` to the allowed users.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fasterclaw::crd::Instance;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
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
const SECRET_SETTINGS: [&str; 12] = [
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
    "GOOGLE_CLIENT_SECRET",
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

    fn all_named(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The hook of `kind` (the migrations Job, its NetworkPolicy).
    fn hook(&self, kind: &str) -> &Value {
        self.hooks
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} hook"))
    }

    /// The first container of the Deployment named `*-{component}`.
    fn container(&self, component: &str) -> &Value {
        &self.named("Deployment", &format!("-{component}"))["spec"]["template"]["spec"]["containers"]
            [0]
    }

    /// The plain (`value`) environment variables of that container.
    fn plain_env(&self, component: &str) -> BTreeMap<String, String> {
        self.container(component)["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                Some((
                    v["name"].as_str()?.to_owned(),
                    v["value"].as_str()?.to_owned(),
                ))
            })
            .collect()
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

/// The checks every rendering must pass. `watched`: the namespace the controller
/// watches, with a Role there; `None`, every namespace, with a ClusterRole.
fn check_common(release: &Release, watched: Option<&str>) {
    let (controller_kind, binding_kind) = match watched {
        Some(_) => ("Role", "RoleBinding"),
        None => ("ClusterRole", "ClusterRoleBinding"),
    };
    let controller = release.named(controller_kind, "-controller");
    let binding = release.named(binding_kind, "-controller");
    assert_eq!(controller["metadata"]["namespace"].as_str(), watched);
    assert_eq!(binding["metadata"]["namespace"].as_str(), watched);
    assert_eq!(binding["roleRef"]["kind"], controller_kind);
    assert_eq!(
        release
            .plain_env("controller")
            .get("WATCH_NAMESPACE")
            .map(String::as_str),
        watched
    );
    let other = if watched.is_some() {
        "ClusterRole"
    } else {
        "Role"
    };
    assert!(
        release
            .all_named(other)
            .iter()
            .all(|r| !r["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .ends_with("-controller")),
        "the controller has a {other} too"
    );
    // The FleetRelease is cluster-scoped: read it and write its status, always with a
    // ClusterRole of its own, bound to the controller.
    let fleet = release.named("ClusterRole", "-controller-fleet-release");
    assert_eq!(
        rules(fleet),
        vec![
            rule(&["fasterclaw.io"], &["fleetreleases"], &["get"]),
            rule(&["fasterclaw.io"], &["fleetreleases/status"], &["patch"]),
        ]
    );
    assert_eq!(
        release.named("ClusterRoleBinding", "-controller-fleet-release")["roleRef"]["name"],
        fleet["metadata"]["name"]
    );
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
    let hook = release.hook("Job");
    assert_eq!(
        hook["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert_eq!(
        hook["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    check_metrics(release);
    for component in ["controller", "api"] {
        assert!(
            !release
                .plain_env(component)
                .contains_key("TRUST_FORWARDED_FOR"),
            "the {component} is given TRUST_FORWARDED_FOR, which the facade refuses"
        );
    }
}

/// Metrics are on ports of their own (controller 8080, facade 9090), behind ClusterIP
/// Services of their own; the facade's API Service, and so its Ingress, has the API
/// port alone, and the ServiceMonitors scrape the metrics ports.
fn check_metrics(release: &Release) {
    let port = |name: &str, number: u16| json!({ "name": name, "containerPort": number });
    assert_eq!(
        release.container("api")["ports"],
        json!([port("http", 3001), port("metrics", 9090)])
    );
    assert_eq!(
        release.container("controller")["ports"],
        json!([port("metrics", 8080)])
    );
    assert_eq!(release.plain_env("api")["METRICS_ADDR"], "0.0.0.0:9090");
    assert_eq!(
        release.plain_env("controller")["METRICS_ADDR"],
        "0.0.0.0:8080"
    );
    let api = release.named("Service", "-api");
    assert_eq!(
        api["spec"]["ports"],
        json!([{ "name": "http", "port": 3001, "targetPort": "http" }])
    );
    for (component, number) in [("api", 9090), ("controller", 8080)] {
        let service = release.named("Service", &format!("-{component}-metrics"));
        assert_eq!(service["spec"]["type"], "ClusterIP");
        assert_eq!(
            service["spec"]["ports"],
            json!([{ "name": "metrics", "port": number, "targetPort": "metrics" }])
        );
        assert_eq!(
            service["spec"]["selector"]["app.kubernetes.io/component"],
            component
        );
        assert_eq!(
            service["metadata"]["labels"]["fasterclaw.io/metrics"],
            "true"
        );
    }
    for ingress in release.all_named("Ingress") {
        for path in ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap()
        {
            assert_eq!(path["backend"]["service"]["name"], api["metadata"]["name"]);
            assert_eq!(
                path["backend"]["service"]["port"],
                json!({ "name": "http" })
            );
        }
    }
    for monitor in release.all_named("ServiceMonitor") {
        assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(
            monitor["spec"]["selector"]["matchLabels"]["fasterclaw.io/metrics"],
            "true"
        );
    }
}

/// The egress rules the NetworkPolicies allow by default, Postgres going to
/// `database_to` (no `to`: anywhere).
fn egress(rules: &[&str], database_to: &Value) -> Value {
    let tcp = |port: u16| json!({ "port": port, "protocol": "TCP" });
    let mut database = json!({ "ports": [tcp(5432)] });
    if database_to.as_array().is_some_and(|a| !a.is_empty()) {
        database["to"] = database_to.clone();
    }
    let rule = |name: &&str| match *name {
        "dns" => json!({ "ports": [{ "port": 53, "protocol": "UDP" }, tcp(53)] }),
        "kubernetesApi" => json!({ "ports": [tcp(443), tcp(6443)] }),
        "database" => database.clone(),
        "https" => json!({ "ports": [tcp(443)], "to": [
            { "ipBlock": { "cidr": "0.0.0.0/0" } }, { "ipBlock": { "cidr": "::/0" } }] }),
        other => panic!("no rule {other}"),
    };
    Value::Array(rules.iter().map(rule).collect())
}

/// With `networkPolicy.enabled`: in, the API port from `api_from` and the metrics
/// ports from anywhere; out, DNS, the Kubernetes API, Postgres and HTTPS only; the
/// migrations Job (a hook created before it) DNS and Postgres only, nothing in.
fn check_network_policies(release: &Release, api_from: &Value, database_to: &Value) {
    let all = ["dns", "kubernetesApi", "database", "https"];
    let controller = &release.named("NetworkPolicy", "-controller")["spec"];
    assert_eq!(controller["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        controller["ingress"],
        json!([{ "ports": [{ "port": "metrics" }] }])
    );
    assert_eq!(controller["egress"], egress(&all, database_to));
    let api = &release.named("NetworkPolicy", "-api")["spec"];
    assert_eq!(api["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        api["ingress"],
        json!([{ "ports": [{ "port": "http" }], "from": api_from }, { "ports": [{ "port": "metrics" }] }])
    );
    assert_eq!(api["egress"], egress(&all, database_to));
    let migrate = release.hook("NetworkPolicy");
    let job = release.hook("Job");
    assert_eq!(
        migrate["metadata"]["annotations"]["helm.sh/hook"],
        job["metadata"]["annotations"]["helm.sh/hook"]
    );
    let weight = |o: &Value| {
        o["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.parse::<i32>().ok())
            .expect("a hook weight")
    };
    assert!(
        weight(migrate) < weight(job),
        "the Job's policy comes first"
    );
    let selector = migrate["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap();
    let labels = &job["spec"]["template"]["metadata"]["labels"];
    assert!(
        selector.iter().all(|(k, v)| &labels[k] == v),
        "it selects the Job's pod"
    );
    assert_eq!(migrate["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(
        migrate["spec"]["ingress"].is_null(),
        "nothing reaches the Job"
    );
    assert_eq!(
        migrate["spec"]["egress"],
        egress(&["dns", "database"], database_to)
    );
}

fn release_name() -> String {
    format!("fc{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_with_its_defaults_and_with_every_option() {
    for file in ["instance.yaml", "fleetrelease.yaml"] {
        let chart_crd =
            std::fs::read_to_string(root().join("charts/fasterclaw/crds").join(file)).unwrap();
        let crd = std::fs::read_to_string(root().join("crds").join(file)).unwrap();
        assert!(
            chart_crd == crd,
            "charts/fasterclaw/crds/{file} differs from crds/{file}: run ./scripts/generate"
        );
    }

    let cluster = TestCluster::new().await;
    assert!(cluster.sim().is_none(), "{NEEDS_REAL}");

    let namespace = cluster.namespace.as_str();
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
            "Role",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceAccount"
        ]
    );
    // By default the controller watches the release namespace, with a Role there.
    check_common(&defaults, Some(namespace));
    let api = defaults.plain_env("api");
    assert_eq!(api["PASSWORD_HASH_CONCURRENCY"], "2");
    assert_eq!(
        [
            api["BILLING_GRACE_PERIOD"].as_str(),
            api["BILLING_DELETION_DEADLINE"].as_str(),
            api["BILLING_DELETION_WARNING"].as_str(),
            api["BILLING_CHECK_INTERVAL"].as_str()
        ],
        ["3days", "30days", "7days", "5m"],
        "the facade's own defaults"
    );
    assert!(
        !api.contains_key("TRUSTED_PROXIES"),
        "no proxy is trusted without an Ingress"
    );
    assert_eq!(
        defaults.container("api")["resources"]["limits"]["memory"],
        "176Mi",
        "128Mi and 24Mi per password hash"
    );

    // Prometheus Operator's ServiceMonitor kind, as a cluster running it has.
    install_service_monitor_crd(&cluster).await;
    let api_from = json!([{ "namespaceSelector": { "matchLabels": { "name": "ingress" } } }]);
    let database_to = json!([{ "ipBlock": { "cidr": "10.20.0.0/16" } }]);
    let everything = install(
        &cluster,
        &release_name(),
        json!({
            "existingSecret": SECRET,
            "controller": { "watchNamespace": namespace, "env": { "FLY_ORG_SLUG": "acme", "MAX_CONCURRENT_RECONCILES": 8 } },
            "api": { "instanceNamespace": namespace, "passwordHashConcurrency": 4, "billing": { "gracePeriod": "2days", "checkInterval": "1m" }, "env": { "STRIPE_PRICE_ID_PRO": "price_1Pro" } },
            "podDisruptionBudget": { "enabled": true },
            "networkPolicy": { "enabled": true, "apiFrom": api_from, "databaseTo": database_to },
            "ingress": { "enabled": true, "className": "nginx", "host": "api.example.com", "tlsSecretName": "api-tls" },
            "serviceMonitor": { "enabled": true },
            "admissionPolicy": { "enabled": true, "allowedUsers": [format!("system:serviceaccount:{namespace}:importer")] },
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        everything.kinds(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
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
            "Service",
            "ServiceAccount",
            "ServiceAccount",
            "ServiceMonitor",
            "ServiceMonitor",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    check_common(&everything, Some(namespace));
    check_network_policies(&everything, &api_from, &database_to);
    let controller = everything.plain_env("controller");
    assert_eq!(controller["MAX_CONCURRENT_RECONCILES"], "8");
    assert_eq!(controller["WATCH_NAMESPACE"], namespace);
    let api = everything.plain_env("api");
    assert_eq!(
        api["TRUSTED_PROXIES"], "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
        "behind the Ingress, the private ranges of in-cluster Ingress controllers"
    );
    assert_eq!(api["PASSWORD_HASH_CONCURRENCY"], "4");
    assert_eq!(
        (
            api["BILLING_GRACE_PERIOD"].as_str(),
            api["BILLING_DELETION_DEADLINE"].as_str(),
            api["BILLING_CHECK_INTERVAL"].as_str()
        ),
        ("2days", "30days", "1m")
    );
    assert_eq!(
        everything.container("api")["resources"]["limits"]["memory"],
        "224Mi"
    );

    // Every namespace only when asked for, with cluster-wide rights (Secrets included);
    // api.trustedProxies applies without an Ingress; an explicit memory limit stays.
    let cluster_wide = install(
        &cluster,
        &release_name(),
        json!({
            "existingSecret": SECRET,
            "controller": { "watchAllNamespaces": true },
            "api": {
                "trustedProxies": ["10.1.2.3", "fd00::/8"],
                "resources": { "limits": { "memory": "300Mi" } },
                "google": { "clientId": "123-abc.apps.googleusercontent.com", "redirectUrl": "https://api.example.com/auth/google/callback" },
            },
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        cluster_wide.kinds(),
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Deployment",
            "Deployment",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceAccount"
        ]
    );
    check_common(&cluster_wide, None);
    assert_eq!(
        cluster_wide.plain_env("api")["TRUSTED_PROXIES"],
        "10.1.2.3,fd00::/8"
    );
    // Sign-in with Google: the client id and callback as values, the secret from the
    // Secret; neither by default.
    let api = cluster_wide.plain_env("api");
    assert_eq!(
        (
            api["GOOGLE_CLIENT_ID"].as_str(),
            api["GOOGLE_REDIRECT_URL"].as_str()
        ),
        (
            "123-abc.apps.googleusercontent.com",
            "https://api.example.com/auth/google/callback"
        )
    );
    assert!(!defaults.plain_env("api").contains_key("GOOGLE_CLIENT_ID"));
    let resources = &cluster_wide.container("api")["resources"];
    assert_eq!(resources["limits"]["memory"], "300Mi");
    assert_eq!(resources["requests"]["memory"], "64Mi");

    // The schema refuses a secret among the plain settings, a missing Secret name, and
    // values out of range; the templates refuse what the schema cannot say clearly.
    for (values, expected) in [
        (
            json!({ "api": { "env": { "STRIPE_SECRET_KEY": "sk_live_oops" } } }),
            "schema",
        ),
        (
            json!({ "api": { "passwordHashConcurrency": 65 } }),
            "schema",
        ),
        (
            json!({ "api": { "trustedProxies": ["10.0.0.0/8,0.0.0.0/0"] } }),
            "schema",
        ),
        (
            json!({ "networkPolicy": { "httpsTo": [{ "cidr": "0.0.0.0/0" }] } }),
            "schema",
        ),
        (
            json!({ "api": { "env": { "TRUST_FORWARDED_FOR": "true" } } }),
            "api.trustedProxies",
        ),
        (
            json!({ "api": { "env": { "TRUSTED_PROXIES": "10.0.0.0/8" } } }),
            "api.trustedProxies",
        ),
        (
            json!({ "controller": { "watchNamespace": namespace, "watchAllNamespaces": true } }),
            "watchAllNamespaces",
        ),
        (
            json!({ "controller": { "watchNamespace": "elsewhere" } }),
            "api.instanceNamespace",
        ),
    ] {
        let mut values = values;
        values["existingSecret"] = json!(SECRET);
        let refused = install(&cluster, &release_name(), values.clone())
            .await
            .expect_err(&format!("{values} is refused"));
        assert!(refused.contains(expected), "{values}: {refused}");
    }
    let refused = install(&cluster, &release_name(), json!({}))
        .await
        .unwrap_err();
    assert!(refused.contains("existingSecret"), "{refused}");

    let policy = everything.named("ValidatingAdmissionPolicy", "-instance-fields");
    remove_admission_policy(&cluster, policy["metadata"]["name"].as_str().unwrap()).await;
}

/// Deletes an admission policy and its binding: cluster-wide objects, not left to the
/// tests that come after.
async fn remove_admission_policy(cluster: &TestCluster, name: &str) {
    let client = cluster.client.clone();
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("the binding is deleted");
    Api::<ValidatingAdmissionPolicy>::all(client)
        .delete(name, &DeleteParams::default())
        .await
        .expect("the policy is deleted");
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

/// The chart's settings a test replaces: addresses (free loopback ports), the web
/// app's, and the log's (the test reads JSON at debug level).
const CHOSEN_BY_THE_TEST: [&str; 6] = [
    "HOST",
    "PORT",
    "METRICS_ADDR",
    "FRONTEND_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
];

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
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
    // The defaults (the release namespace, namespaced rights), behind an Ingress.
    let installed = install(
        &stack.cluster,
        &release,
        json!({ "existingSecret": SECRET, "ingress": { "enabled": true } }),
    )
    .await
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let name = format!("{release}-fasterclaw");
    let controller_config =
        kubeconfig_of(&stack.cluster, &format!("{name}-controller"), files.path()).await;
    let api_config = kubeconfig_of(&stack.cluster, &format!("{name}-api"), files.path()).await;

    // The settings the chart gives each Deployment, but for the addresses the test
    // chooses (free ports on loopback) and the log format it reads.
    let settings = |component: &str, kubeconfig: &str| {
        let mut env: Vec<(String, String)> = installed
            .plain_env(component)
            .into_iter()
            .filter(|(name, _)| !CHOSEN_BY_THE_TEST.contains(&name.as_str()))
            .collect();
        env.push(("KUBECONFIG".to_owned(), kubeconfig.to_owned()));
        env
    };
    let controller_env = settings("controller", &controller_config);
    let api_env = settings("api", &api_config);
    assert!(controller_env.iter().any(|(n, _)| n == "WATCH_NAMESPACE"));
    assert!(api_env.iter().any(|(n, _)| n == "TRUSTED_PROXIES"));

    let mut controller = stack.controller(&pairs(&controller_env));
    let telegram = telegram().await;
    telegram.add_bot(TOKEN, "support_bot", "Support");
    let facade = stack.api(&telegram.base_url(), &pairs(&api_env)).await;
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

/// A kube client with `kubeconfig`'s identity.
async fn client_of(kubeconfig: &str) -> kube::Client {
    let parsed = Kubeconfig::read_from(kubeconfig).expect("the kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig is usable");
    kube::Client::try_from(config).expect("a kube client")
}

/// An Instance named `name` whose spec has the required fields and `extra`.
fn instance(name: &str, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "displayName": "Imported",
        "ownerId": "user-1",
        "telegramToken": { "secretKeyRef": { "name": "bot", "key": "token" } },
    });
    for (field, value) in extra.as_object().into_iter().flatten() {
        spec[field] = value.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "fasterclaw.io/v1alpha1",
        "kind": "Instance",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("an Instance")
}

fn refused(result: Result<DynamicObject, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(other) => panic!("expected the API server to refuse, got {other}"),
        Ok(o) => panic!("the API server accepted {:?}", o.metadata.name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_policy_keeps_adopt_and_image_to_the_allowed_users() {
    let cluster = TestCluster::new().await;
    assert!(cluster.sim().is_none(), "{NEEDS_REAL}");
    let namespace = cluster.namespace.clone();
    let admin = cluster.client.clone();

    // The import's identity: a ServiceAccount of its own that may create Instances.
    let importer = "importer";
    let allowed = format!("system:serviceaccount:{namespace}:{importer}");
    let account: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": importer } })).unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": { "name": importer },
        "rules": [{ "apiGroups": ["fasterclaw.io"], "resources": ["instances"], "verbs": ["get", "create", "patch"] }],
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": importer },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": importer },
        "subjects": [{ "kind": "ServiceAccount", "name": importer, "namespace": namespace }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let release = release_name();
    let installed = install(
        &cluster,
        &release,
        json!({ "existingSecret": SECRET, "admissionPolicy": { "enabled": true, "allowedUsers": [allowed] } }),
    )
    .await
    .unwrap();
    let policy = installed.named("ValidatingAdmissionPolicy", "-instance-fields");
    let policy_name = policy["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"],
        json!([{ "apiGroups": ["fasterclaw.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["instances"] }])
    );
    let bound = &installed.named("ValidatingAdmissionPolicyBinding", "-instance-fields")["spec"];
    assert_eq!(bound["policyName"], policy_name.as_str());
    assert_eq!(bound["validationActions"], json!(["Deny"]));
    assert_eq!(
        bound["matchResources"]["namespaceSelector"]["matchLabels"],
        json!({ "kubernetes.io/metadata.name": namespace }),
        "it applies where the controller watches, not to other releases' Instances"
    );

    let files = tempfile::tempdir().unwrap();
    let facade_account = format!("{release}-fasterclaw-api");
    let facade_name = format!("system:serviceaccount:{namespace}:{facade_account}");
    let resource = ApiResource::erase::<Instance>(&());
    let as_facade: Api<DynamicObject> = Api::namespaced_with(
        client_of(&kubeconfig_of(&cluster, &facade_account, files.path()).await).await,
        &namespace,
        &resource,
    );
    let as_importer: Api<DynamicObject> = Api::namespaced_with(
        client_of(&kubeconfig_of(&cluster, importer, files.path()).await).await,
        &namespace,
        &resource,
    );
    let adopt = json!({ "adopt": { "appName": "openclaw-abcd1234-1732000000001" } });
    let image = json!({ "image": "ghcr.io/elsewhere/openclaw:latest" });

    // The API server loads a new policy within moments: until then, a dry run passes.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while as_facade
        .create(&dry_run, &instance("probe", adopt.clone()))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the admission policy was not in force after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The facade (allowed to create Instances) may set neither field.
    for (field, spec) in [("spec.adopt", &adopt), ("spec.image", &image)] {
        let (code, message) = refused(
            as_facade
                .create(&PostParams::default(), &instance("sneaky", spec.clone()))
                .await,
        );
        assert_eq!(code, 403, "{message}");
        for part in [
            format!("ValidatingAdmissionPolicy '{policy_name}'"),
            format!("{field} ("),
            format!("may be set or changed only by {allowed} (admissionPolicy.allowedUsers)"),
            format!("refused for {facade_name}"),
        ] {
            assert!(message.contains(&part), "{part:?} is not in: {message}");
        }
    }
    // The same Instance without them is the facade's to create and to change...
    as_facade
        .create(&PostParams::default(), &instance("plain", json!({})))
        .await
        .expect("an Instance without adopt or image is accepted");
    let stop = json!({ "spec": { "powerState": "Stopped" } });
    as_facade
        .patch("plain", &PatchParams::default(), &Patch::Merge(&stop))
        .await
        .expect("an update that leaves adopt and image alone is accepted");
    // ...but not to give an image on an update.
    let (code, message) = refused(
        as_facade
            .patch(
                "plain",
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": image })),
            )
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("spec.image ("), "{message}");

    // The import's identity may set both; the facade may then update the Instance
    // but not change them.
    as_importer
        .create(
            &PostParams::default(),
            &instance(
                "imported",
                json!({ "adopt": adopt["adopt"], "image": image["image"] }),
            ),
        )
        .await
        .expect("the allowed user creates an Instance with spec.adopt and spec.image");
    as_facade
        .patch("imported", &PatchParams::default(), &Patch::Merge(&stop))
        .await
        .expect("the facade updates an imported Instance");
    let other_image = json!({ "spec": { "image": "ghcr.io/elsewhere/openclaw:2" } });
    let (code, message) = refused(
        as_facade
            .patch(
                "imported",
                &PatchParams::default(),
                &Patch::Merge(&other_image),
            )
            .await,
    );
    assert_eq!(code, 403, "{message}");

    remove_admission_policy(&cluster, &policy_name).await;
}
