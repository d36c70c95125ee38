//! The command line: `greenlight [serve]` (the default), `greenlight healthcheck`, `greenlight smoke`.
//! Add a subcommand by adding a variant to [`Command`] and a match arm in `main.rs`.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Config;
use crate::healthcheck::HealthcheckArgs;

#[derive(Debug, Parser)]
#[command(
    name = "greenlight",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s settings, so `greenlight --port 0` works without the subcommand.
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (the default).
    Serve(Box<Config>),
    /// Exit 0 when GET http://127.0.0.1:$PORT/health answers 200, else 1 (container health check).
    Healthcheck(HealthcheckArgs),
    /// Check a running server (/health, /ready, /version, a streamed chat) over several rounds;
    /// exit 0 when every check passed, 1 when one failed.
    Smoke(greenlight_smoke::cli::SmokeArgs),
}

impl Cli {
    /// Parses the command line and environment; on a bad value, the message names the variable.
    pub fn parse_or_exit() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(err) => {
                if let Some(variable) = env_of_invalid_arg(&err) {
                    let rendered = err.to_string();
                    let detail = rendered.trim().trim_start_matches("error: ");
                    eprintln!("error: invalid configuration: {variable}: {detail}");
                    std::process::exit(2);
                }
                err.exit()
            }
        }
    }
}

/// The environment variable behind the argument a value error is about.
fn env_of_invalid_arg(err: &clap::Error) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    // `arg` reads like `--port <PORT>`.
    let long = arg.strip_prefix("--")?.split_whitespace().next()?;
    let command = Cli::command();
    std::iter::once(&command)
        .chain(command.get_subcommands())
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|env| env.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_flags_work_without_it() {
        let cli = Cli::try_parse_from(["greenlight", "--port", "0"]).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.port, 0);
        let cli = Cli::try_parse_from(["greenlight", "serve", "--port", "1"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Serve(c)) if c.port == 1));
    }

    #[test]
    fn smoke_takes_its_own_arguments() {
        let cli = Cli::try_parse_from([
            "greenlight",
            "smoke",
            "--url",
            "http://h:1",
            "--expect-image",
            "img",
            "--rounds",
            "4",
            "--ttft-budget-ms",
            "100",
            "--total-budget-ms",
            "200",
            "--prompt",
            "hi",
            "--json",
        ])
        .expect("parses");
        let Some(Command::Smoke(args)) = cli.command else {
            panic!("not the smoke subcommand");
        };
        let config = args.to_config().expect("valid");
        assert_eq!(config.rounds, 4);
        assert_eq!(config.expect_image.as_deref(), Some("img"));
        assert_eq!(config.prompt, "hi");
        assert!(args.json);
    }

    #[test]
    fn value_errors_name_the_variable() {
        let err = Cli::try_parse_from(["greenlight", "--port", "abc"]).expect_err("bad port");
        assert_eq!(env_of_invalid_arg(&err).as_deref(), Some("PORT"));
        let err = Cli::try_parse_from(["greenlight", "--llm-provider", "foo"]).expect_err("bad");
        assert_eq!(env_of_invalid_arg(&err).as_deref(), Some("LLM_PROVIDER"));
    }
}
