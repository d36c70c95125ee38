//! Prometheus text exposition (`metrics-exporter-prometheus`, without its HTTP listener): served by
//! [`serve`] on its own port (`METRICS_PORT`), never on the public listener's router, so the ALB
//! cannot reach it by accident.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::net::TcpListener;

use super::{CATALOGUE, GlobalLabels, Kind};

/// Histogram buckets of the durations, in seconds: from a cached offline answer's few
/// milliseconds to a slow model's tens of seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often histogram storage is compacted.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder, with the global labels and real histograms (not summaries) for every histogram
/// of the catalogue.
pub fn recorder(labels: &GlobalLabels) -> Result<PrometheusRecorder, BuildError> {
    let mut builder = PrometheusBuilder::new();
    for (k, v) in labels.pairs() {
        builder = builder.add_global_label(k, v);
    }
    for m in CATALOGUE.iter().filter(|m| m.kind == Kind::Histogram) {
        builder =
            builder.set_buckets_for_metric(Matcher::Full(m.name.to_owned()), SECONDS_BUCKETS)?;
    }
    Ok(builder.build_recorder())
}

/// Serves `GET /metrics` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}
