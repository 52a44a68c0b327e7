//! `fasterclaw probe`: GET a health endpoint and succeed on 2xx.

use super::Error;
use crate::cli::ProbeArgs;

/// Probes `args.url` once.
pub async fn run(args: &ProbeArgs) -> Result<(), Error> {
    let failed = |why: String| Error::Probe(format!("GET {}: {why}", args.url));
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(failed(status.to_string()))
    }
}
