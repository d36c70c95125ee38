//! What `/version` reports: crate version, commit and image.
//!
//! The image comes from `IMAGE_URI`, else from the ECS task metadata endpoint, read once in the
//! background at start (so start stays instant), else "unknown".

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;

const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub version: &'static str,
    pub commit: String,
    image: Arc<OnceLock<String>>,
}

/// The part of the ECS task metadata v4 container response we read.
#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(rename = "Image")]
    image: String,
}

impl VersionInfo {
    /// `git_commit` (runtime) wins over the build-time `GIT_COMMIT`.
    pub fn new(git_commit: Option<&str>, image_uri: Option<&str>) -> Self {
        let commit = git_commit
            .filter(|c| !c.trim().is_empty())
            .or(option_env!("GIT_COMMIT"))
            .unwrap_or(UNKNOWN)
            .to_owned();
        let image = Arc::new(OnceLock::new());
        if let Some(uri) = image_uri.filter(|u| !u.trim().is_empty()) {
            let _ = image.set(uri.to_owned());
        }
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit,
            image,
        }
    }

    pub fn image(&self) -> &str {
        self.image.get().map_or(UNKNOWN, String::as_str)
    }

    /// When no image is known, reads it from the ECS metadata endpoint in the background.
    pub fn spawn_ecs_lookup(&self, metadata_uri: Option<String>) {
        let Some(uri) = metadata_uri.filter(|u| !u.trim().is_empty()) else {
            return;
        };
        if self.image.get().is_some() {
            return;
        }
        let image = Arc::clone(&self.image);
        tokio::spawn(async move {
            match fetch_image(&uri).await {
                Ok(found) => {
                    tracing::info!(image = %found, "image from ECS task metadata");
                    let _ = image.set(found);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the image from ECS task metadata")
                }
            }
        });
    }
}

async fn fetch_image(uri: &str) -> Result<String, String> {
    // The bundled roots, not reqwest's default: that reads the OS certificate store, which the
    // `scratch` image lacks, and fails to build even a plain-HTTP client there.
    let tls = crate::provider::tls_config().map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    fetch_with(&client, uri).await.map_err(|e| e.to_string())
}

async fn fetch_with(client: &reqwest::Client, uri: &str) -> Result<String, reqwest::Error> {
    let meta: ContainerMetadata = client
        .get(uri)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(meta.image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_values_win_and_blank_means_absent() {
        let v = VersionInfo::new(Some("abc123"), Some("repo:tag"));
        assert_eq!(v.commit, "abc123");
        assert_eq!(v.image(), "repo:tag");
        let v = VersionInfo::new(Some(" "), None);
        assert_eq!(v.image(), "unknown");
        assert_eq!(v.commit, option_env!("GIT_COMMIT").unwrap_or("unknown"));
    }
}
