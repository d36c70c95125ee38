//! The hook's settings from its Lambda environment (docs/contract.md, "Hook configuration").

use std::time::Duration;

use greenlight_smoke::config as smoke;
use greenlight_smoke::{ConfigError as SmokeConfigError, SmokeConfig};

/// Largest HOOK_DEADLINE_SECONDS: a Lambda runs at most 15 minutes.
pub const MAX_DEADLINE_SECONDS: u64 = 900;
pub const DEFAULT_CONTAINER_NAME: &str = "greenlight";
/// ECS engine: how long, over all invocations of one execution, green may take to pass every
/// round before the hook answers FAILED (HOOK_CHECK_WINDOW_SECONDS).
pub const DEFAULT_CHECK_WINDOW_SECONDS: u64 = 600;
/// An hour: a gate that needs longer is a broken gate, not a slow one.
pub const MAX_CHECK_WINDOW_SECONDS: u64 = 3_600;
/// ECS engine: the `callBackDelay` of an IN_PROGRESS answer (HOOK_CALLBACK_DELAY_SECONDS).
pub const DEFAULT_CALLBACK_DELAY_SECONDS: u64 = 10;
pub const MAX_CALLBACK_DELAY_SECONDS: u64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} must be {expected}, got {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("{name}: {source}")]
    Smoke {
        name: &'static str,
        source: SmokeConfigError,
    },
}

#[derive(Debug, Clone)]
pub struct HookConfig {
    /// The smoke settings; their `expect_image` and `deadline` are set per invocation.
    pub smoke: SmokeConfig,
    /// Deadline of one invocation's run from HOOK_DEADLINE_SECONDS; else the Lambda's own
    /// deadline minus a margin. (CodeDeploy: the whole run; ECS: one invocation, see below.)
    pub deadline: Option<Duration>,
    /// ECS engine: how long green may take, over all invocations, to pass every round.
    pub check_window: Duration,
    /// ECS engine: the `callBackDelay` when the checks go on in a later invocation.
    pub callback_delay: Duration,
    pub container_name: String,
    /// ECS engine: BOOTSTRAP_TASK_FAMILY, the family of the placeholder task definition a new
    /// stack starts with. A green revision of that family is the stack's first deployment,
    /// which has no application to check (it runs before any image was pushed).
    pub bootstrap_family: Option<String>,
    /// TEST_LISTENER_LOAD_BALANCER: the ALB's full name (`app/<name>/<id>`). When set, the checks
    /// connect to its nodes' private addresses (Host header still the URL's) instead of the
    /// public ones its DNS name resolves to.
    pub load_balancer: Option<String>,
}

impl HookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let url = get("TEST_LISTENER_URL").ok_or(ConfigError::Missing("TEST_LISTENER_URL"))?;
        let base_url = smoke::parse_base_url(&url).map_err(|source| ConfigError::Smoke {
            name: "TEST_LISTENER_URL",
            source,
        })?;
        let mut config = SmokeConfig::new(base_url);
        if let Some(v) = get("SMOKE_ROUNDS") {
            config.rounds = number("SMOKE_ROUNDS", &v)?;
        }
        if let Some(v) = get("SMOKE_TTFT_BUDGET_MS") {
            config.ttft_budget = Duration::from_millis(number("SMOKE_TTFT_BUDGET_MS", &v)?);
        }
        if let Some(v) = get("SMOKE_TOTAL_BUDGET_MS") {
            config.total_budget = Duration::from_millis(number("SMOKE_TOTAL_BUDGET_MS", &v)?);
        }
        if let Some(v) = get("SMOKE_PROMPT") {
            config.prompt = v;
        }
        let deadline = match get("HOOK_DEADLINE_SECONDS") {
            None => None,
            Some(v) => {
                let seconds: u64 = number("HOOK_DEADLINE_SECONDS", &v)?;
                if !(1..=MAX_DEADLINE_SECONDS).contains(&seconds) {
                    return Err(ConfigError::Invalid {
                        name: "HOOK_DEADLINE_SECONDS",
                        expected: "between 1 and 900",
                        value: v,
                    });
                }
                Some(Duration::from_secs(seconds))
            }
        };
        let check_window = match get("HOOK_CHECK_WINDOW_SECONDS") {
            None => Duration::from_secs(DEFAULT_CHECK_WINDOW_SECONDS),
            Some(v) => seconds_within(
                "HOOK_CHECK_WINDOW_SECONDS",
                &v,
                MAX_CHECK_WINDOW_SECONDS,
                "between 1 and 3600",
            )?,
        };
        let callback_delay = match get("HOOK_CALLBACK_DELAY_SECONDS") {
            None => Duration::from_secs(DEFAULT_CALLBACK_DELAY_SECONDS),
            Some(v) => seconds_within(
                "HOOK_CALLBACK_DELAY_SECONDS",
                &v,
                MAX_CALLBACK_DELAY_SECONDS,
                "between 1 and 300",
            )?,
        };
        let load_balancer = get("TEST_LISTENER_LOAD_BALANCER")
            .map(|v| load_balancer_full_name(&v))
            .transpose()?;
        if load_balancer.is_some() && !matches!(config.base_url.host(), Some(url::Host::Domain(_)))
        {
            return Err(ConfigError::Invalid {
                name: "TEST_LISTENER_URL",
                expected: "a URL with the load balancer's DNS name when TEST_LISTENER_LOAD_BALANCER is set",
                value: url,
            });
        }
        config.validate().map_err(|source| ConfigError::Smoke {
            name: "SMOKE_* settings",
            source,
        })?;
        Ok(Self {
            smoke: config,
            deadline,
            check_window,
            callback_delay,
            container_name: get("CONTAINER_NAME")
                .unwrap_or_else(|| DEFAULT_CONTAINER_NAME.to_owned()),
            bootstrap_family: get("BOOTSTRAP_TASK_FAMILY"),
            load_balancer,
        })
    }
}

/// Checks an application load balancer's full name, `app/<name>/<id>` (what CloudFormation's
/// `LoadBalancerFullName` gives): a name of letters, digits and hyphens, a hexadecimal id.
fn load_balancer_full_name(value: &str) -> Result<String, ConfigError> {
    let invalid = || ConfigError::Invalid {
        name: "TEST_LISTENER_LOAD_BALANCER",
        expected: "an application load balancer's full name, app/<name>/<id>",
        value: value.to_owned(),
    };
    let mut parts = value.split('/');
    let (Some("app"), Some(name), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let name_ok = (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let id_ok = !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    if name_ok && id_ok {
        Ok(value.to_owned())
    } else {
        Err(invalid())
    }
}

fn seconds_within(
    name: &'static str,
    value: &str,
    max: u64,
    expected: &'static str,
) -> Result<Duration, ConfigError> {
    let seconds: u64 = number(name, value)?;
    if (1..=max).contains(&seconds) {
        Ok(Duration::from_secs(seconds))
    } else {
        Err(ConfigError::Invalid {
            name,
            expected,
            value: value.to_owned(),
        })
    }
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        name,
        expected: "a whole number",
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<HookConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        HookConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = load(&[("TEST_LISTENER_URL", "http://internal-alb:8080")]).expect("valid");
        assert_eq!(c.smoke.rounds, 3);
        assert_eq!(c.smoke.ttft_budget, Duration::from_millis(5_000));
        assert_eq!(c.smoke.total_budget, Duration::from_millis(20_000));
        assert_eq!(c.smoke.prompt, smoke::DEFAULT_PROMPT);
        assert_eq!(c.deadline, None);
        assert_eq!(c.check_window, Duration::from_secs(600));
        assert_eq!(c.callback_delay, Duration::from_secs(10));
        assert_eq!(c.container_name, "greenlight");
        assert_eq!(c.bootstrap_family, None);
        assert_eq!(c.load_balancer, None);
    }

    #[test]
    fn reads_every_setting() {
        let c = load(&[
            ("TEST_LISTENER_URL", "http://h:1"),
            ("SMOKE_ROUNDS", "5"),
            ("SMOKE_TTFT_BUDGET_MS", "100"),
            ("SMOKE_TOTAL_BUDGET_MS", "200"),
            ("SMOKE_PROMPT", "hi"),
            ("HOOK_DEADLINE_SECONDS", "30"),
            ("HOOK_CHECK_WINDOW_SECONDS", "120"),
            ("HOOK_CALLBACK_DELAY_SECONDS", "5"),
            ("CONTAINER_NAME", "app"),
            (
                "TEST_LISTENER_LOAD_BALANCER",
                "app/Greenl-LoadB-1A2B3C/50dc6c495c0c9188",
            ),
        ])
        .expect("valid");
        assert_eq!(c.smoke.rounds, 5);
        assert_eq!(c.smoke.ttft_budget, Duration::from_millis(100));
        assert_eq!(c.smoke.total_budget, Duration::from_millis(200));
        assert_eq!(c.smoke.prompt, "hi");
        assert_eq!(c.deadline, Some(Duration::from_secs(30)));
        assert_eq!(c.check_window, Duration::from_secs(120));
        assert_eq!(c.callback_delay, Duration::from_secs(5));
        assert_eq!(c.container_name, "app");
        assert_eq!(
            c.load_balancer.as_deref(),
            Some("app/Greenl-LoadB-1A2B3C/50dc6c495c0c9188")
        );
    }

    #[test]
    fn the_load_balancer_must_be_an_alb_full_name_behind_a_host_name() {
        for bad in [
            "greenlight",
            "net/greenlight/50dc6c495c0c9188",
            "app/greenlight",
            "app/green light/50dc6c495c0c9188",
            "app/greenlight/not-hex",
            "app/greenlight/50dc6c495c0c9188/extra",
            "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/g/50dc6c495c0c9188",
        ] {
            let e = load(&[
                ("TEST_LISTENER_URL", "http://alb.example:8080"),
                ("TEST_LISTENER_LOAD_BALANCER", bad),
            ])
            .expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "TEST_LISTENER_LOAD_BALANCER must be an application load balancer's full name, app/<name>/<id>, got {bad:?}"
                )
            );
        }
        let e = load(&[
            ("TEST_LISTENER_URL", "http://10.0.0.5:8080"),
            ("TEST_LISTENER_LOAD_BALANCER", "app/g/50dc6c495c0c9188"),
        ])
        .expect_err("an address has no name to override");
        assert!(
            e.to_string()
                .starts_with("TEST_LISTENER_URL must be a URL with the load balancer's DNS name"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let e = load(&[]).expect_err("missing url");
        assert_eq!(e.to_string(), "TEST_LISTENER_URL is required");
        let e =
            load(&[("TEST_LISTENER_URL", "http://h"), ("SMOKE_ROUNDS", "many")]).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "SMOKE_ROUNDS must be a whole number, got \"many\""
        );
        let e = load(&[
            ("TEST_LISTENER_URL", "http://h"),
            ("HOOK_DEADLINE_SECONDS", "0"),
        ])
        .expect_err("bad");
        assert!(
            e.to_string()
                .starts_with("HOOK_DEADLINE_SECONDS must be between 1 and 900"),
            "{e}"
        );
        for (name, value, expected) in [
            ("HOOK_CHECK_WINDOW_SECONDS", "0", "between 1 and 3600"),
            ("HOOK_CHECK_WINDOW_SECONDS", "3601", "between 1 and 3600"),
            ("HOOK_CALLBACK_DELAY_SECONDS", "301", "between 1 and 300"),
            ("HOOK_CALLBACK_DELAY_SECONDS", "soon", "a whole number"),
        ] {
            let e = load(&[("TEST_LISTENER_URL", "http://h"), (name, value)]).expect_err(name);
            assert_eq!(
                e.to_string(),
                format!("{name} must be {expected}, got {value:?}")
            );
        }
        let e = load(&[("TEST_LISTENER_URL", "http://h"), ("SMOKE_ROUNDS", "0")]).expect_err("bad");
        assert!(e.to_string().contains("rounds must be between 1"), "{e}");
        let e = load(&[("TEST_LISTENER_URL", "ftp://h")]).expect_err("bad");
        assert!(e.to_string().starts_with("TEST_LISTENER_URL: url:"), "{e}");
    }
}
