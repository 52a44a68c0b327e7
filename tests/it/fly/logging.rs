//! What the client logs: every call with its operation and outcome, never a secret.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use fasterclaw_sim::fly::{FaultPlan, FaultRule};
use secrecy::SecretString;

use super::fly;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn calls_are_traced_without_secrets_even_when_they_fail() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fly = fly().await;
    let app = "fc-logged";
    fly.client.create_app(app).await.unwrap();
    let token = "7085221466:AAFq3S0m2qAs-kN_4yR8E1vW3Xe9b0pL7Uc";
    let secrets = BTreeMap::from([(
        "TELEGRAM_BOT_TOKEN".to_owned(),
        SecretString::from(token.to_owned()),
    )]);
    fly.sim.set_faults(FaultPlan::none().with(
        "Secrets_update",
        FaultRule {
            server_error: 1.0,
            ..FaultRule::default()
        },
    ));
    let _ = fly.client.set_secrets(app, &secrets).await;
    let _ = fly.client.get_app("fc-missing").await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("Secrets_update"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains("Apps_show") && logs.contains("404"), "{logs}");
    assert!(
        !logs.contains("AAFq3S0m"),
        "the Telegram token is in the logs"
    );
    assert!(
        !logs.contains(fly.sim.token()),
        "the Fly API token is in the logs"
    );
}
