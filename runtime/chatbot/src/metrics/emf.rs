//! CloudWatch Embedded Metric Format (EMF) on stdout, aggregated per interval: CloudWatch Logs
//! turns each record into metrics, with no agent and no extra IAM permission.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! (tests/python/emf.schema.json is the same structure as a JSON schema). A histogram's value is
//! `{"Values","Counts","Max","Min","Count","Sum"}` with at most 100 values, the shape AWS's own
//! EMF library writes (aws-embedded-metrics-java, `model/Histogram.java`).
//!
//! Why not a crate: `metrics_cloudwatch_embedded`, the maintained EMF exporter for the `metrics`
//! facade, is built for Lambda (one flush per invocation) and keeps at most 100 raw values per
//! histogram between flushes, dropping the rest. A server needs one record per interval however
//! many chats it served, so histograms are aggregated into `Values`/`Counts` pairs here. Storage
//! is `metrics-util`'s registry (atomic counters and lock-free histogram buckets); this module only
//! drains it and writes the records.
//!
//! One record per label set, carrying every metric recorded with it, under two dimension sets
//! (EMF's `Dimensions` is an array of sets; CloudWatch publishes each metric once per set):
//! `service`, the global labels and that set's labels; and the stable set (`service` and the
//! labels other than `route`) that alarms and scaling use (see [`super::SERVICE_DIMENSION`]).
//! Counters are the increase over the interval; gauges the value at its end; histograms the
//! interval's values, rounded to two significant digits (at most 5 % off) and merged until at
//! most 100 distinct values remain (EMF's limit).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use serde_json::{Map, Value, json};

use super::{GlobalLabels, ROLLED_UP_LABELS, SERVICE_DIMENSION};

/// The CloudWatch namespace when `METRICS_EMF_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Greenlight";

/// Most distinct values of one histogram in one record (EMF's limit for a metric's values).
pub const MAX_VALUES: usize = 100;

/// CloudWatch's name for a unit (`MetricDatum.Unit`).
pub fn cloudwatch_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Nanoseconds => "None",
        Unit::Tebibytes => "Terabytes",
        Unit::Gibibytes => "Gigabytes",
        Unit::Mebibytes => "Megabytes",
        Unit::Kibibytes => "Kilobytes",
        Unit::Bytes => "Bytes",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::CountPerSecond => "Count/Second",
    }
}

/// A `metrics` recorder that keeps what was recorded since the last [`EmfRecorder::flush`].
pub struct EmfRecorder {
    namespace: String,
    service: String,
    global: Vec<(&'static str, String)>,
    registry: Registry<Key, AtomicStorage>,
    units: Mutex<HashMap<String, Unit>>,
}

impl EmfRecorder {
    pub fn new(namespace: &str, service: &str, labels: &GlobalLabels) -> Self {
        Self {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            global: labels
                .pairs()
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .collect(),
            registry: Registry::atomic(),
            units: Mutex::new(HashMap::new()),
        }
    }

    fn describe(&self, key: &KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            self.units
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.as_str().to_owned(), unit);
        }
    }

    fn unit_of(&self, name: &str) -> &'static str {
        self.units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map_or("None", |u| cloudwatch_unit(*u))
    }

    /// Takes what was recorded since the last call and returns it as EMF records stamped
    /// `timestamp` (one per label set; none when nothing was ever recorded).
    pub fn take_records(&self, timestamp: SystemTime) -> Vec<Value> {
        // Label set (sorted pairs) -> metric name -> value.
        let mut groups: BTreeMap<Vec<(String, String)>, BTreeMap<String, Value>> = BTreeMap::new();
        let group_of = |key: &Key| {
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            labels
        };
        self.registry.visit_counters(|key, counter| {
            let delta = counter.swap(0, Ordering::Relaxed);
            groups
                .entry(group_of(key))
                .or_default()
                .insert(key.name().to_owned(), json!(delta));
        });
        self.registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Relaxed));
            groups
                .entry(group_of(key))
                .or_default()
                .insert(key.name().to_owned(), json!(value));
        });
        self.registry.visit_histograms(|key, bucket| {
            let mut values = Vec::new();
            bucket.clear_with(|chunk| values.extend_from_slice(chunk));
            if let Some(summary) = Distribution::of(&values) {
                groups
                    .entry(group_of(key))
                    .or_default()
                    .insert(key.name().to_owned(), summary.to_json());
            }
        });
        let millis = timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        groups
            .into_iter()
            .map(|(labels, metrics)| self.record(millis, &labels, metrics))
            .collect()
    }

    fn record(
        &self,
        millis: u64,
        labels: &[(String, String)],
        metrics: BTreeMap<String, Value>,
    ) -> Value {
        let mut root = Map::new();
        let mut dimensions: Vec<&str> = vec![SERVICE_DIMENSION];
        for (k, v) in &self.global {
            dimensions.push(k);
            root.insert((*k).to_owned(), json!(v));
        }
        let mut stable: Vec<&str> = vec![SERVICE_DIMENSION];
        root.insert(SERVICE_DIMENSION.to_owned(), json!(self.service));
        for (k, v) in labels {
            dimensions.push(k);
            if !ROLLED_UP_LABELS.contains(&k.as_str()) {
                stable.push(k);
            }
            root.insert(k.clone(), json!(v));
        }
        let definitions: Vec<Value> = metrics
            .keys()
            .map(|name| json!({"Name": name, "Unit": self.unit_of(name)}))
            .collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": millis,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions, stable],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in metrics {
            root.insert(name, value);
        }
        Value::Object(root)
    }

    /// Writes the interval's records to `out`, one JSON object a line, each in one write.
    pub fn flush_to(&self, out: &mut impl Write, timestamp: SystemTime) -> std::io::Result<()> {
        for record in self.take_records(timestamp) {
            let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
            line.push(b'\n');
            out.write_all(&line)?;
        }
        out.flush()
    }

    /// Writes the interval's records to stdout (where the container's log driver sends them to
    /// CloudWatch Logs), between the log lines but never inside one.
    pub fn flush(&self) {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        if let Err(e) = self.flush_to(&mut lock, SystemTime::now()) {
            drop(lock);
            tracing::warn!(error = %e, "cannot write the metrics records");
        }
    }

    /// Flushes every `interval` until the runtime stops; the caller flushes once more at exit.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) {
        let recorder = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                recorder.flush();
            }
        });
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(&key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(&key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(&key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

/// One histogram's values over an interval, as EMF's `Values`/`Counts` with exact statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub values: Vec<f64>,
    pub counts: Vec<u64>,
    pub min: f64,
    pub max: f64,
    pub count: u64,
    pub sum: f64,
}

/// `value` rounded to two significant digits (CloudWatch's own statistics are approximate too).
fn two_significant_digits(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(1 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

impl Distribution {
    /// `None` for no values. Non-finite values are dropped (CloudWatch rejects them).
    pub fn of(raw: &[f64]) -> Option<Self> {
        let finite: Vec<f64> = raw.iter().copied().filter(|v| v.is_finite()).collect();
        let count = u64::try_from(finite.len()).unwrap_or(u64::MAX);
        if count == 0 {
            return None;
        }
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum = finite.iter().sum();
        // Keyed by the bits of the rounded value, ordered by the value itself.
        let mut buckets: BTreeMap<OrderedF64, u64> = BTreeMap::new();
        for v in finite {
            *buckets
                .entry(OrderedF64(two_significant_digits(v)))
                .or_default() += 1;
        }
        let mut pairs: Vec<(f64, u64)> = buckets.into_iter().map(|(k, c)| (k.0, c)).collect();
        while pairs.len() > MAX_VALUES {
            pairs = merge_neighbours(&pairs);
        }
        let (values, counts) = pairs.into_iter().unzip();
        Some(Self {
            values,
            counts,
            min,
            max,
            count,
            sum,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Values": self.values,
            "Counts": self.counts,
            "Min": self.min,
            "Max": self.max,
            "Count": self.count,
            "Sum": self.sum,
        })
    }
}

/// Halves the number of distinct values: each pair becomes their count-weighted mean.
fn merge_neighbours(pairs: &[(f64, u64)]) -> Vec<(f64, u64)> {
    pairs
        .chunks(2)
        .map(|chunk| {
            let count: u64 = chunk.iter().map(|(_, c)| c).sum();
            let weighted: f64 = chunk.iter().map(|(v, c)| v * *c as f64).sum();
            (two_significant_digits(weighted / count as f64), count)
        })
        .collect()
}

/// A finite f64 with a total order, for map keys.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedF64(f64);

impl Eq for OrderedF64 {}

impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> EmfRecorder {
        EmfRecorder::new(
            "Test",
            "chat-svc",
            &GlobalLabels {
                provider: "offline".into(),
                model: "m".into(),
                version: "1.2.3".into(),
            },
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn counters_are_the_increase_over_the_interval() {
        let r = recorder();
        ::metrics::with_local_recorder(&r, || {
            ::metrics::describe_counter!("c_total", Unit::Count, "c");
            ::metrics::counter!("c_total", "route" => "/api/chat").increment(2);
            ::metrics::counter!("c_total", "route" => "/api/chat").increment(3);
            ::metrics::counter!("c_total", "route" => "/v1/chat/completions").increment(1);
        });
        let records = r.take_records(at(60));
        assert_eq!(records.len(), 2, "one record per label set: {records:?}");
        let chat = &records[0];
        assert_eq!(chat["route"], "/api/chat");
        assert_eq!(chat["provider"], "offline");
        assert_eq!(chat["version"], "1.2.3");
        assert_eq!(chat["c_total"], 5);
        assert_eq!(chat["_aws"]["Timestamp"], 60_000);
        let directive = &chat["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(
            directive["Dimensions"],
            json!([
                ["service", "provider", "model", "version", "route"],
                ["service"]
            ])
        );
        assert_eq!(chat["service"], "chat-svc");
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "c_total", "Unit": "Count"}])
        );
        assert_eq!(records[1]["c_total"], 1);

        // The next interval starts from zero; a known counter is still reported (as 0).
        let records = r.take_records(at(120));
        assert_eq!(records[0]["c_total"], 0);
    }

    #[test]
    fn gauges_report_their_value_and_histograms_their_distribution() {
        let r = recorder();
        ::metrics::with_local_recorder(&r, || {
            ::metrics::describe_histogram!("h_seconds", Unit::Seconds, "h");
            ::metrics::gauge!("g").increment(3.0);
            ::metrics::gauge!("g").decrement(1.0);
            for v in [0.101, 0.1, 0.2, 0.2, 1.5] {
                ::metrics::histogram!("h_seconds").record(v);
            }
        });
        let records = r.take_records(at(1));
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record["g"], 2.0);
        assert_eq!(
            record["h_seconds"],
            json!({"Values": [0.1, 0.2, 1.5], "Counts": [2, 2, 1], "Min": 0.1, "Max": 1.5,
                   "Count": 5, "Sum": 0.101 + 0.1 + 0.2 + 0.2 + 1.5})
        );
        let units: Vec<_> = record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| (m["Name"].clone(), m["Unit"].clone()))
            .collect();
        assert_eq!(
            units,
            vec![
                (json!("g"), json!("None")),
                (json!("h_seconds"), json!("Seconds"))
            ]
        );
        // An empty histogram is left out of the next record; the gauge stays.
        let records = r.take_records(at(2));
        assert!(records[0].get("h_seconds").is_none());
        assert_eq!(records[0]["g"], 2.0);
    }

    #[test]
    fn the_stable_set_keeps_every_label_but_route() {
        let r = recorder();
        ::metrics::with_local_recorder(&r, || {
            ::metrics::counter!("f_total", "route" => "/api/chat", "outcome" => "error")
                .increment(1);
            ::metrics::gauge!("open").set(4.0);
        });
        let records = r.take_records(at(1));
        let sets: Vec<_> = records
            .iter()
            .map(|r| r["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone())
            .collect();
        assert_eq!(
            sets,
            vec![
                json!([["service", "provider", "model", "version"], ["service"]]),
                json!([
                    [
                        "service", "provider", "model", "version", "outcome", "route"
                    ],
                    ["service", "outcome"]
                ]),
            ]
        );
        assert!(records.iter().all(|r| r["service"] == "chat-svc"));
    }

    #[test]
    fn nothing_recorded_means_no_record() {
        assert!(recorder().take_records(at(1)).is_empty());
    }

    #[test]
    fn histograms_keep_at_most_100_values_and_exact_statistics() {
        let raw: Vec<f64> = (1..=5000).map(|i| f64::from(i) * 0.001).collect();
        let d = Distribution::of(&raw).expect("values");
        assert!(d.values.len() <= MAX_VALUES, "{}", d.values.len());
        assert_eq!(d.counts.iter().sum::<u64>(), 5000);
        assert_eq!(d.count, 5000);
        assert!((d.sum - raw.iter().sum::<f64>()).abs() < 1e-9);
        assert_eq!((d.min, d.max), (0.001, 5.0));
        assert!(d.values.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        assert!(Distribution::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn rounding_is_within_five_percent() {
        for v in [0.000_123_4, 0.0149, 0.95, 1.0, 9.96, 123.0, 45_678.0] {
            let r = two_significant_digits(v);
            assert!((r - v).abs() / v <= 0.05, "{v} -> {r}");
        }
        assert_eq!(two_significant_digits(0.0), 0.0);
    }

    #[test]
    fn flush_writes_one_json_object_a_line() {
        let r = recorder();
        ::metrics::with_local_recorder(&r, || {
            ::metrics::counter!("a_total", "route" => "x").increment(1);
            ::metrics::counter!("a_total", "route" => "y").increment(1);
        });
        let mut out = Vec::new();
        r.flush_to(&mut out, at(5)).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let v: Value = serde_json::from_str(line).expect("JSON");
            assert_eq!(v["a_total"], 1);
        }
    }
}
