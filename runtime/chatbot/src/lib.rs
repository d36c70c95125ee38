//! Greenlight's chat server: a streaming chat API and browser UI in front of an LLM provider.

pub mod api;
pub mod app;
pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod healthcheck;
pub mod provider;
pub mod rate_limit;
pub mod render;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod validation;
pub mod version_info;
pub mod web;
