//! Greenlight's chat server: a streaming chat API and browser UI in front of an LLM provider.

pub mod provider;
pub mod render;
pub mod web;
