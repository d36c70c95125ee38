//! The entry points the fuzz targets drive (`runtime/fuzz`), gathered in one place so the harnesses
//! do not depend on where they live inside the crate. Only with the `fuzzing` feature: not an API.

pub use crate::app::router;
pub use crate::config::Config;
pub use crate::error::ApiError;
pub use crate::provider::BedrockProvider;
pub use crate::provider::OpenAiProvider;
pub use crate::provider::{
    BedrockSettings, ChatRequest, Message, OpenAiSettings, Provider, ProviderEvent, Role,
};
pub use crate::provider::{SseError, SseReader};
pub use crate::render::{HtmlSnapshots, markdown_to_html};
pub use crate::state::AppState;
