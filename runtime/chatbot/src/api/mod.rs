//! HTTP handlers, one module per concern. The chat engine they call is `crate::engine`.

pub mod chat_route;
pub mod health;
pub mod json;
pub mod openai_compat;
pub mod rejections;
pub mod version;
