//! kubectl against the server, with the kubeconfig it writes: apply, get, explain and
//! delete for Instances and Secrets, and the CRD itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{kube, kube_with};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn for_server(kube: &super::Kube) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "fasterclaw-kubectl-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        kube.sim.write_kubeconfig(&kubeconfig).unwrap();
        Self { kubeconfig }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.kubeconfig.parent().unwrap())
            .current_dir(REPO)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "kubectl cannot run ({e}); run the tests with ./scripts/test, which installs it"
                )
            })
    }

    /// Runs kubectl and returns stdout, failing the test when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_and_deletes_instances_and_secrets() {
    let kube = kube().await;
    let kubectl = Kubectl::for_server(&kube);
    let applied = kubectl.ok(&[
        "apply",
        "-f",
        "examples/secret.yaml",
        "-f",
        "examples/instance.yaml",
    ]);
    assert!(
        applied.contains("secret/support-bot-telegram created"),
        "{applied}"
    );
    assert!(
        applied.contains("instance.fasterclaw.io/support-bot created"),
        "{applied}"
    );

    let table = kubectl.ok(&["get", "instances"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATUS", "HEALTH", "REGION", "MODEL", "IP", "AGE"]
    );
    let row = table.lines().nth(1).unwrap();
    // REGION is where it runs (status.region): empty until a controller places it.
    assert!(
        row.starts_with("support-bot") && row.contains("claude-sonnet-5"),
        "{row}"
    );
    assert!(
        kubectl.ok(&["get", "fasterclaw"]).contains("support-bot"),
        "the category lists it"
    );

    let token = kubectl.ok(&[
        "get",
        "secret",
        "support-bot-telegram",
        "-o",
        "jsonpath={.data.token}",
    ]);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .unwrap();
    assert_eq!(decoded, b"110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw");

    let again = kubectl.ok(&["apply", "-f", "examples/instance.yaml"]);
    assert!(again.contains("unchanged"), "{again}");

    let deleted = kubectl.ok(&[
        "delete",
        "-f",
        "examples/instance.yaml",
        "-f",
        "examples/secret.yaml",
    ]);
    assert!(deleted.contains("deleted"), "{deleted}");
    let empty = kubectl.run(&["get", "instances"]);
    assert!(String::from_utf8_lossy(&empty.stderr).contains("No resources found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_the_servers_validation_errors() {
    let kube = kube().await;
    let kubectl = Kubectl::for_server(&kube);
    let dir = kubectl.kubeconfig.parent().unwrap();
    let bad = dir.join("bad.yaml");
    let example = std::fs::read_to_string(Path::new(REPO).join("examples/instance.yaml")).unwrap();
    std::fs::write(
        &bad,
        example.replace("aiModel: claude-sonnet-5", "aiModel: llama-3"),
    )
    .unwrap();
    let output = kubectl.run(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("spec.aiModel"), "{stderr}");
    assert!(stderr.contains("is invalid"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explains_instance_fields() {
    let kube = kube().await;
    let kubectl = Kubectl::for_server(&kube);
    let explained = kubectl.ok(&["explain", "instance.spec.aiModel"]);
    assert!(
        explained.contains("AI model that answers the bot"),
        "{explained}"
    );
    let spec = kubectl.ok(&["explain", "instance.spec"]);
    assert!(
        spec.contains("telegramToken") && spec.contains("deletionPolicy"),
        "{spec}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_crd_and_it_becomes_established() {
    let kube = kube_with(Default::default()).await;
    let kubectl = Kubectl::for_server(&kube);
    let applied = kubectl.ok(&["apply", "-f", "crds/instance.yaml"]);
    assert!(
        applied.contains(
            "customresourcedefinition.apiextensions.k8s.io/instances.fasterclaw.io created"
        ),
        "{applied}"
    );
    let established = kubectl.ok(&[
        "get",
        "crd",
        "instances.fasterclaw.io",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
    ]);
    assert_eq!(established.trim(), "True");
    let applied = kubectl.ok(&["apply", "-f", "examples/instance.yaml"]);
    assert!(applied.contains("created"), "{applied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_instance_shows_its_events() {
    let kube = kube().await;
    let kubectl = Kubectl::for_server(&kube);
    kubectl.ok(&["apply", "-f", "examples/instance.yaml"]);
    let created = kube.instances().get("support-bot").await.unwrap();
    let recorder = kube::runtime::events::Recorder::new(
        kube.client.clone(),
        kube::runtime::events::Reporter {
            controller: "fasterclaw-controller".into(),
            instance: None,
        },
    );
    let reference = kube::Resource::object_ref(&created, &());
    recorder
        .publish(
            &kube::runtime::events::Event {
                type_: kube::runtime::events::EventType::Warning,
                reason: "PlatformKeyMissing".into(),
                note: Some("ANTHROPIC_API_KEY is not set on the controller".into()),
                action: "Reconcile".into(),
                secondary: None,
            },
            &reference,
        )
        .await
        .unwrap();
    let described = kubectl.ok(&["describe", "instance", "support-bot"]);
    assert!(described.contains("PlatformKeyMissing"), "{described}");
    assert!(
        described.contains("ANTHROPIC_API_KEY is not set"),
        "{described}"
    );
}
