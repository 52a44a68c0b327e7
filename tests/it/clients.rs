//! The TypeScript client in `clients/typescript`, generated from the OpenAPI document,
//! driving a running facade from Node.js (`npm test` there: compile, then
//! `node --test`).

use std::path::Path;
use std::process::Command;

use crate::billing::Billing;

const HOW_TO_RUN: &str = "the TypeScript client's packages are not installed: run ./scripts/test \
                          (it installs them), or `npm ci` in clients/typescript";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_drives_a_running_facade() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/typescript");
    assert!(dir.join("node_modules/.bin/tsc").exists(), "{HOW_TO_RUN}");
    let billing = Billing::start(&[]).await;
    let api = billing.facade.url.clone();
    let stripe = billing.stripe.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("npm")
            .args(["test", "--silent"])
            .current_dir(dir)
            .env("FASTERCLAW_API_URL", api)
            .env("STRIPE_SIM_URL", stripe)
            .output()
            .expect("npm runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the TypeScript client's test failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("# pass 1"), "{report}");
}
