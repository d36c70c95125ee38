//! `greenlight healthcheck`: the container health check (the image has no shell and no curl).

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Port the server listens on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub timeout_ms: u64,
}

/// Whether `GET http://127.0.0.1:PORT/health` answers 200 in time; the reason when not.
pub async fn check(args: &HealthcheckArgs) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{}/health", args.port);
    // Plain HTTP, but reqwest's default TLS setup reads the OS certificate store, which the
    // `scratch` image lacks: building the client would fail there. The bundled roots never do.
    let tls = crate::provider::tls_config().map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("GET {url}: status {}", response.status()))
    }
}
