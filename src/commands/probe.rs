//! `fasterclaw probe`: GET a health endpoint and succeed on 2xx.

use clap::Args;

use super::Error;

/// `fasterclaw probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The endpoint, such as `http://127.0.0.1:3001/ready` or `http://127.0.0.1:8080/readyz`.
    #[arg(default_value = "http://127.0.0.1:3001/health")]
    pub url: String,
    /// Longest wait for the answer.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

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
