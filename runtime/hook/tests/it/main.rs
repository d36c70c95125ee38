//! The hook's integration tests, one test binary (one link of the AWS SDK instead of one per file).
//! The suites need moto and built binaries, so they are #[ignore]d in `cargo test --workspace`;
//! scripts/ci/hook.sh runs them with --include-ignored.

mod cargo_lambda;
mod ecs_green;
mod moto_green;
mod support;
