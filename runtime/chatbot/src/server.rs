//! `greenlight serve`: bind, serve, and drain on SIGTERM/SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::Config;
use crate::metrics::{self, GlobalLabels};
use crate::provider;
use crate::shutdown;
use crate::state::AppState;

/// Time for streams to send their final event after the drain window, and for connections to close.
const GRACE: Duration = Duration::from_secs(3);

/// Runs the server until a signal, then drains. Nothing blocking happens before the bind.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on HOST={} PORT={}", config.host, config.port))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let metrics_listener = match config.metrics_port {
        Some(port) => Some(
            TcpListener::bind((config.host.as_str(), port))
                .await
                .with_context(|| {
                    format!("cannot listen on HOST={} METRICS_PORT={port}", config.host)
                })?,
        ),
        None => None,
    };
    let provider = provider::factory::build(&config).await?;
    let state = AppState::new(&config, provider);
    state
        .version
        .spawn_ecs_lookup(config.ecs_container_metadata_uri_v4.clone());
    let exporters = metrics::install(
        config.metrics_emf.then_some(metrics::EmfTarget {
            namespace: &config.metrics_emf_namespace,
            service: &config.metrics_emf_service,
        }),
        metrics_listener.is_some(),
        &GlobalLabels {
            provider: state.provider.name().to_owned(),
            model: state.provider.model().to_owned(),
            version: state.version.version.to_owned(),
        },
    )
    .context("installing the metrics exporters")?;
    let stop_metrics = CancellationToken::new();
    let emf = exporters.as_ref().and_then(|e| e.emf.clone());
    if let Some(emf) = &emf {
        emf.spawn_flusher(config.metrics_emf_interval());
    }
    if let (Some(listener), Some(handle)) = (metrics_listener, exporters.and_then(|e| e.prometheus))
    {
        let metrics_addr = listener
            .local_addr()
            .context("reading the metrics address")?;
        tracing::info!("metrics on http://{metrics_addr}/metrics");
        let stop = stop_metrics.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = metrics::prometheus::serve(listener, handle, stop).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    tracing::info!(
        provider = state.provider.name(),
        model = state.provider.model(),
        version = state.version.version,
        "listening on http://{addr}"
    );
    let served = serve(listener, state, shutdown::signal()).await;
    stop_metrics.cancel();
    // The last interval's numbers, drained chats included.
    if let Some(emf) = &emf {
        emf.flush();
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `state` on `listener` until `stop` resolves, then drains: see [`shutdown::Drain`].
/// A second signal during the drain ends the window at once.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Streaming: send each small SSE frame at once.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let close = CancellationToken::new();
    let app = app::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(close.clone().cancelled_owned());
    let mut server = tokio::spawn(server.into_future());

    tokio::select! {
        result = &mut server => return result.map_err(std::io::Error::other)?,
        () = stop => {}
    }
    let drain = state.drain.run(GRACE);
    tokio::pin!(drain);
    tokio::select! {
        () = &mut drain => {}
        () = shutdown::signal() => {
            tracing::warn!("second signal: ending open streams now");
            state.drain.expire();
            drain.await;
        }
    }
    // Every stream has ended: stop accepting and let open connections finish their response.
    close.cancel();
    match tokio::time::timeout(GRACE, &mut server).await {
        Ok(result) => result.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
            server.abort();
            Ok(())
        }
    }
}
