//! The outcome of a smoke run: one entry per check, rendered as text for people or JSON for machines.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// e.g. `health`, `ready`, `version`, `chat`, or `deadline` when the run ran out of time.
    pub name: String,
    /// 1-based round; 0 for run-level entries.
    pub round: u32,
    pub passed: bool,
    pub duration_ms: u64,
    /// Time to the first token, for chat checks that got one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    /// What was seen (on success) or what went wrong (on failure).
    pub detail: String,
}

impl Check {
    pub(crate) fn new(
        name: &str,
        round: u32,
        passed: bool,
        elapsed: Duration,
        detail: String,
    ) -> Self {
        Self {
            name: name.to_owned(),
            round,
            passed,
            duration_ms: millis(elapsed),
            ttft_ms: None,
            detail,
        }
    }
}

/// What `/version` said, when it answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub version: String,
    pub commit: String,
    pub image: String,
}

/// A whole smoke run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_image: Option<String>,
    /// True only when every check passed and the run finished before its deadline.
    pub passed: bool,
    pub rounds: u32,
    pub duration_ms: u64,
    /// The first `/version` answer seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerVersion>,
    pub checks: Vec<Check>,
}

impl Report {
    /// The first failed check, if any: the one-line reason for a failed run.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.passed)
    }

    /// A one-line summary, e.g. for a CodeDeploy status reason.
    pub fn summary(&self) -> String {
        let passed = self.checks.iter().filter(|c| c.passed).count();
        match self.first_failure() {
            None => format!(
                "{passed}/{} checks passed in {} ms",
                self.checks.len(),
                self.duration_ms
            ),
            Some(c) => format!(
                "{passed}/{} checks passed; {} failed: {}",
                self.checks.len(),
                label(c),
                c.detail
            ),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and bools always serializes.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable report with one line per check and its timing.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Greenlight smoke test of {}", self.url);
        if let Some(image) = &self.expect_image {
            let _ = writeln!(out, "expected image: {image}");
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                out,
                "server: version {} commit {} image {}",
                s.version, s.commit, s.image
            );
        }
        let width = self
            .checks
            .iter()
            .map(|c| label(c).len())
            .max()
            .unwrap_or(0);
        for c in &self.checks {
            let timing = match c.ttft_ms {
                Some(ttft) => format!("{:>6} ms (ttft {ttft} ms)", c.duration_ms),
                None => format!("{:>6} ms", c.duration_ms),
            };
            let _ = writeln!(
                out,
                "  {} {:<width$}  {timing}  {}",
                if c.passed { "PASS" } else { "FAIL" },
                label(c),
                c.detail
            );
        }
        let _ = writeln!(
            out,
            "{}: {}",
            if self.passed { "PASSED" } else { "FAILED" },
            self.summary()
        );
        out
    }
}

fn label(c: &Check) -> String {
    if c.round == 0 {
        c.name.clone()
    } else {
        format!("round {} {}", c.round, c.name)
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<Check>) -> Report {
        Report {
            url: "http://h".into(),
            expect_image: Some("img:1".into()),
            passed: checks.iter().all(|c| c.passed),
            rounds: 1,
            duration_ms: 12,
            server: None,
            checks,
        }
    }

    #[test]
    fn text_and_summary_name_the_failure() {
        let r = report(vec![
            Check::new("health", 1, true, Duration::from_millis(3), "200".into()),
            Check::new(
                "version",
                1,
                false,
                Duration::from_millis(4),
                "image mismatch".into(),
            ),
        ]);
        let text = r.render_text();
        assert!(text.contains("PASS round 1 health"), "{text}");
        assert!(text.contains("FAIL round 1 version"), "{text}");
        assert!(
            text.ends_with("FAILED: 1/2 checks passed; round 1 version failed: image mismatch\n"),
            "{text}"
        );
    }

    #[test]
    fn json_round_trips() {
        let r = report(vec![Check::new(
            "chat",
            2,
            true,
            Duration::from_millis(9),
            "ok".into(),
        )]);
        let back: Report = serde_json::from_str(&r.to_json()).expect("valid json");
        assert_eq!(back, r);
    }
}
