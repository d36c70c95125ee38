//! The chat server's integration tests, one test binary: each test binary links the whole server
//! and the AWS SDK, so one binary instead of one per file saves a link per file in every build.

mod api;
mod bedrock_provider;
mod common;
mod docs;
mod drain;
mod e2e;
mod openai_provider;
mod process;
