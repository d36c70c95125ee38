//! `greenlight`: the chat server (`serve`, the default), its container health check and the
//! green-light smoke checks.

use std::process::ExitCode;

use greenlight::{Cli, Command, Config, ConfigError};

/// mimalloc instead of musl's malloc in the static build the image ships: musl's allocator is slow
/// for the many small, short-lived allocations of a streamed answer on several worker threads
/// (BENCHMARKS.md, "Allocator"). glibc's malloc is as fast, so host builds keep it.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn runtime(multi_thread: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

fn serve(config: Config) -> ExitCode {
    if let Err(e) = config.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    greenlight::init_logging(config.log_format);
    let result = runtime(true)
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(greenlight::run(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the server failed");
            eprintln!("error: {e:#}");
            // A configuration the provider rejects is a usage error, like the ones clap finds.
            if e.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_or_exit();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(config)) => serve(*config),
        Some(Command::Healthcheck(args)) => {
            let result = runtime(false)
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(greenlight::healthcheck(&args)));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Smoke(args)) => match runtime(false) {
            Ok(rt) => ExitCode::from(rt.block_on(args.run())),
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
