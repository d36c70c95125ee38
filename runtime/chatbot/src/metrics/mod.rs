//! The server's metrics: every name, its kind, unit and labels in ONE table ([`CATALOGUE`]), and
//! the exporters that publish them: CloudWatch Embedded Metric Format on stdout ([`emf`]) and
//! Prometheus text on a separate port ([`prometheus`]).
//!
//! Code that observes something records it through the `metrics` facade with a name from this
//! module (`::metrics::counter!(metrics::CHATS_STARTED, ...)`); when no exporter is on, no recorder
//! is installed and recording costs next to nothing. This module knows nothing of chats: it is a
//! leaf every other module may use.
//!
//! Labels are the provider, model and version (global, added by the exporters) and the few fixed
//! ones the table names (`route`, `outcome`, `code`, `event`): never prompt text, never a client
//! address. docs/metrics.json is this table for the CDK side; a test keeps the two equal.
//!
//! EMF records also carry [`SERVICE_DIMENSION`] (the task family, set by the task definition), so
//! two services of one stack never mix, and declare every metric under two dimension sets: per
//! version (`service`, the global labels, the metric's labels) and stable (`service` and the
//! labels other than `route`). `version` changes with every deployment, so an alarm or a scaling
//! policy (which name one exact dimension set) on the first set would stop seeing the new build;
//! the stable set stays the same across deployments and covers blue and green together.

pub mod emf;
pub mod prometheus;

use std::sync::Arc;

use ::metrics::Unit;

/// Chats that started streaming (`route`).
pub const CHATS_STARTED: &str = "greenlight_chats_started_total";
/// Chats that ended (`route`, `outcome`: `ok`, `error`, `cancelled`, `drained`).
pub const CHATS_FINISHED: &str = "greenlight_chats_finished_total";
/// Error codes answered, before a chat started (rejections) or as a stream's last event (`route`,
/// `code`).
pub const CHAT_ERRORS: &str = "greenlight_chat_errors_total";
/// Chat requests refused by the per-client rate limit (`route`).
pub const RATE_LIMITED: &str = "greenlight_rate_limited_total";
/// Time from the chat's start to its first token, in seconds (`route`).
pub const TTFT: &str = "greenlight_chat_ttft_seconds";
/// Time from the chat's start to its `done` event, in seconds, for answers that ended well
/// (`route`).
pub const CHAT_DURATION: &str = "greenlight_chat_duration_seconds";
/// Prompt tokens of answered chats (`route`).
pub const PROMPT_TOKENS: &str = "greenlight_prompt_tokens_total";
/// Completion tokens of answered chats (`route`).
pub const COMPLETION_TOKENS: &str = "greenlight_completion_tokens_total";
/// Chat streams open now.
pub const STREAMS_OPEN: &str = "greenlight_streams_open";
/// Upstream requests retried before the first token.
pub const UPSTREAM_RETRIES: &str = "greenlight_upstream_retries_total";
/// Time the offline provider's BM25 search takes, in seconds.
pub const RETRIEVAL: &str = "greenlight_retrieval_seconds";
/// Drain events (`event`: `started` on SIGTERM, `deadline` when the window ended with streams
/// still open).
pub const DRAIN_EVENTS: &str = "greenlight_drain_events_total";

/// The global labels every series carries.
pub const GLOBAL_LABELS: [&str; 3] = ["provider", "model", "version"];

/// The dimension of the EMF records' stable set: the service (`METRICS_EMF_SERVICE`).
pub const SERVICE_DIMENSION: &str = "service";

/// Labels the stable set leaves out (summed over), so alarms see the service as a whole.
pub const ROLLED_UP_LABELS: [&str; 1] = ["route"];

/// How a metric behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric the server emits.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    /// Labels besides [`GLOBAL_LABELS`].
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl Metric {
    /// The EMF dimension sets of this metric: per version (`service`, the global labels and the
    /// metric's), and stable (`service` and the labels not rolled up).
    pub fn dimension_sets(&self) -> [Vec<&'static str>; 2] {
        let per_version = std::iter::once(SERVICE_DIMENSION)
            .chain(GLOBAL_LABELS.iter().chain(self.labels).copied())
            .collect();
        let per_service = std::iter::once(SERVICE_DIMENSION)
            .chain(
                self.labels
                    .iter()
                    .copied()
                    .filter(|l| !ROLLED_UP_LABELS.contains(l)),
            )
            .collect();
        [per_version, per_service]
    }
}

/// Every metric the server emits.
pub const CATALOGUE: &[Metric] = &[
    Metric {
        name: CHATS_STARTED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route"],
        help: "Chats that started streaming.",
    },
    Metric {
        name: CHATS_FINISHED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route", "outcome"],
        help: "Chats that ended, by outcome (ok, error, cancelled, drained).",
    },
    Metric {
        name: CHAT_ERRORS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route", "code"],
        help: "Error codes answered, before a chat started or as a stream's last event.",
    },
    Metric {
        name: RATE_LIMITED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route"],
        help: "Chat requests refused by the per-client rate limit.",
    },
    Metric {
        name: TTFT,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &["route"],
        help: "Time from a chat's start to its first token.",
    },
    Metric {
        name: CHAT_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &["route"],
        help: "Time from a chat's start to its done event, for answers that ended well.",
    },
    Metric {
        name: PROMPT_TOKENS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route"],
        help: "Prompt tokens of answered chats.",
    },
    Metric {
        name: COMPLETION_TOKENS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route"],
        help: "Completion tokens of answered chats.",
    },
    Metric {
        name: STREAMS_OPEN,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "Chat streams open now.",
    },
    Metric {
        name: UPSTREAM_RETRIES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Upstream requests retried before the first token.",
    },
    Metric {
        name: RETRIEVAL,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "Time the offline provider's BM25 search takes.",
    },
    Metric {
        name: DRAIN_EVENTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["event"],
        help: "Drain events: started (SIGTERM), deadline (the window ended with streams open).",
    },
];

/// The catalogue as JSON, the form docs/metrics.json commits for the CDK side.
pub fn catalogue_json(namespace: &str) -> serde_json::Value {
    let metrics: Vec<_> = CATALOGUE
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "kind": m.kind.as_str(),
                "unit": emf::cloudwatch_unit(m.unit),
                "labels": m.labels,
                "dimensionSets": m.dimension_sets(),
                "help": m.help,
            })
        })
        .collect();
    serde_json::json!({
        "namespace": namespace,
        "globalDimensions": GLOBAL_LABELS,
        "serviceDimension": SERVICE_DIMENSION,
        "metrics": metrics,
    })
}

/// What the exporters label every series with.
#[derive(Debug, Clone)]
pub struct GlobalLabels {
    pub provider: String,
    pub model: String,
    pub version: String,
}

impl GlobalLabels {
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (GLOBAL_LABELS[0], self.provider.as_str()),
            (GLOBAL_LABELS[1], self.model.as_str()),
            (GLOBAL_LABELS[2], self.version.as_str()),
        ]
    }
}

/// The exporters that are on, after [`install`].
pub struct Exporters {
    pub emf: Option<Arc<emf::EmfRecorder>>,
    pub prometheus: Option<::metrics_exporter_prometheus::PrometheusHandle>,
}

/// Registers every metric's unit and help with the installed recorder.
fn describe() {
    for m in CATALOGUE {
        match m.kind {
            Kind::Counter => ::metrics::describe_counter!(m.name, m.unit, m.help),
            Kind::Gauge => ::metrics::describe_gauge!(m.name, m.unit, m.help),
            Kind::Histogram => ::metrics::describe_histogram!(m.name, m.unit, m.help),
        }
    }
}

/// Why the exporters could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the Prometheus recorder: {0}")]
    Prometheus(#[from] ::metrics_exporter_prometheus::BuildError),
    #[error("a metrics recorder is already installed")]
    AlreadyInstalled,
}

/// Where EMF records go: their namespace and the value of their `service` dimension.
#[derive(Debug, Clone, Copy)]
pub struct EmfTarget<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
}

/// Installs the global recorder for the exporters asked for; `None` when none is (nothing is
/// installed, so recording is a no-op).
pub fn install(
    emf_target: Option<EmfTarget<'_>>,
    prometheus: bool,
    labels: &GlobalLabels,
) -> Result<Option<Exporters>, InstallError> {
    if emf_target.is_none() && !prometheus {
        return Ok(None);
    }
    let mut fanout = ::metrics_util::layers::FanoutBuilder::default();
    let emf = emf_target.map(|t| Arc::new(emf::EmfRecorder::new(t.namespace, t.service, labels)));
    if let Some(emf) = &emf {
        fanout = fanout.add_recorder(Arc::clone(emf));
    }
    let prometheus = if prometheus {
        let recorder = prometheus::recorder(labels)?;
        let handle = recorder.handle();
        fanout = fanout.add_recorder(recorder);
        Some(handle)
    } else {
        None
    };
    ::metrics::set_global_recorder(fanout.build()).map_err(|_| InstallError::AlreadyInstalled)?;
    describe();
    Ok(Some(Exporters { emf, prometheus }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prometheus_safe() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len(), "a name is listed twice");
        for m in CATALOGUE {
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "counters and only counters end in _total: {}",
                m.name
            );
            assert!(
                !m.labels
                    .iter()
                    .any(|l| GLOBAL_LABELS.contains(l) || *l == SERVICE_DIMENSION),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn the_stable_dimension_set_has_no_version_and_no_route() {
        let ttft = CATALOGUE.iter().find(|m| m.name == TTFT).expect("listed");
        assert_eq!(
            ttft.dimension_sets(),
            [
                vec!["service", "provider", "model", "version", "route"],
                vec!["service"]
            ]
        );
        let finished = CATALOGUE
            .iter()
            .find(|m| m.name == CHATS_FINISHED)
            .expect("listed");
        assert_eq!(finished.dimension_sets()[1], vec!["service", "outcome"]);
    }

    #[test]
    fn docs_metrics_json_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.json");
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("docs/metrics.json exists"))
                .expect("docs/metrics.json is JSON");
        let expected = catalogue_json(emf::DEFAULT_NAMESPACE);
        assert_eq!(
            committed,
            expected,
            "docs/metrics.json is out of date; write it with:\n{}",
            serde_json::to_string_pretty(&expected).unwrap_or_default()
        );
    }
}
