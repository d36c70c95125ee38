//! The fake upstream's integration tests, one test binary (one link instead of one per file).

mod bedrock_api;
mod bench_load;
mod binary;
mod openai_api;
