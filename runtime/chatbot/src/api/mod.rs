//! HTTP handlers, one module per concern.

pub mod chat;
pub mod health;
pub mod json;
pub mod openai_compat;
pub mod version;
