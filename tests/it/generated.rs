//! Generated files that are committed must be exactly what the code generates.

use std::path::Path;
use std::process::Command;

fn committed(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn printed_by(subcommand: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .arg(subcommand)
        .output()
        .expect("the fasterclaw binary runs");
    assert!(
        output.status.success(),
        "fasterclaw {subcommand} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

#[test]
fn committed_crd_is_what_fasterclaw_crd_prints() {
    let printed = printed_by("crd");
    assert_eq!(printed, fasterclaw::crd::instance_crd_yaml().unwrap());
    assert!(
        committed("crds/instance.yaml") == printed,
        "crds/instance.yaml is stale: run ./scripts/generate and commit the result"
    );
}

#[test]
fn committed_release_crd_is_what_fasterclaw_crd_release_prints() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fasterclaw"))
        .args(["crd", "--release"])
        .output()
        .expect("the fasterclaw binary runs");
    assert!(output.status.success(), "fasterclaw crd --release failed");
    let printed = String::from_utf8(output.stdout).expect("output is UTF-8");
    assert_eq!(printed, fasterclaw::crd::fleet_release_crd_yaml().unwrap());
    assert!(
        committed("crds/fleetrelease.yaml") == printed,
        "crds/fleetrelease.yaml is stale: run ./scripts/generate and commit the result"
    );
}

#[test]
fn committed_openapi_document_is_what_fasterclaw_openapi_prints() {
    let printed = printed_by("openapi");
    assert_eq!(printed, fasterclaw::api::openapi::document_json());
    assert!(
        committed("openapi/openapi.json") == printed,
        "openapi/openapi.json is stale: run ./scripts/generate and commit the result"
    );
}
