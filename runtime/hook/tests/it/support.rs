//! Real parts for the hook's tests: a moto server (with the report call added by
//! tests/moto/server.py), `greenlight` servers, the `fake-llm` upstream, and CodeDeploy/ECS
//! resources created through the real Rust SDK clients.

pub mod ecs;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType,
    RevisionLocation, RevisionLocationType,
};
use aws_sdk_ecs::types::ContainerDefinition;
use serde_json::Value;

pub const REGION: &str = "eu-west-1";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// A binary from GREENLIGHT_BIN / FAKE_LLM_BIN, else the workspace's debug build.
pub fn binary(env: &str, name: &str) -> PathBuf {
    let path =
        std::env::var_os(env).map_or_else(|| target_dir().join("debug").join(name), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: build it (cargo build -p {}) or set {env}",
        path.display(),
        if name == "greenlight" {
            "greenlight"
        } else {
            "greenlight-fake-llm"
        }
    );
    path
}

/// The project's virtualenv python (scripts/lib.sh python_env), else python3 on PATH.
pub fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The moto server, shared by every test of a test binary. Its stdin is held open for the
/// process' lifetime; when the test binary exits the pipe closes and moto exits by itself.
pub struct Moto {
    pub endpoint: String,
    _child: Child,
    _stdin: ChildStdin,
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let mut child = Command::new(python())
            .arg(root().join("tests/moto/server.py"))
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/moto/server.py (is moto installed? scripts/lib.sh python_env)");
        let stdin = child.stdin.take().expect("moto stdin");
        let stdout = child.stdout.take().expect("moto stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("moto prints its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("moto said {line:?}"));
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
            _stdin: stdin,
        }
    })
}

impl Moto {
    /// The SDK config of the hook (same retry and timeouts), aimed at moto with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_codedeploy::config::Credentials::new(
                "test", "test", None, None, "test",
            ));
        greenlight_hook::aws::configure(loader).load().await
    }

    /// Makes the next `count` report calls for `deployment_id` fail with ThrottlingException.
    pub async fn throttle(&self, deployment_id: &str, count: u32) {
        reqwest::Client::new()
            .post(format!(
                "{}/_greenlight/throttle?deployment={deployment_id}&count={count}",
                self.endpoint
            ))
            .send()
            .await
            .expect("throttle")
            .error_for_status()
            .expect("throttle accepted");
    }

    /// What the report endpoint recorded: `{"reports":[...],"calls":{id:n},"throttled":{id:n}}`.
    pub async fn reports(&self) -> Value {
        reqwest::get(format!("{}/_greenlight/reports", self.endpoint))
            .await
            .expect("reports")
            .json()
            .await
            .expect("reports json")
    }

    /// The status recorded for one execution, if any.
    pub async fn status_of(&self, deployment_id: &str, execution_id: &str) -> Option<String> {
        let reports = self.reports().await;
        reports["reports"].as_array()?.iter().find_map(|r| {
            (r["deploymentId"] == deployment_id && r["executionId"] == execution_id)
                .then(|| r["status"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// Report calls for `deployment_id` so far, and how many of them were throttled.
    pub async fn calls(&self, deployment_id: &str) -> (u64, u64) {
        let reports = self.reports().await;
        (
            reports["calls"][deployment_id].as_u64().unwrap_or(0),
            reports["throttled"][deployment_id].as_u64().unwrap_or(0),
        )
    }
}

/// Registers a task definition whose `greenlight` container runs `image`, and creates a
/// CodeDeploy ECS application, deployment group and deployment whose appspec names it.
pub async fn create_deployment(config: &SdkConfig, image: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(config);
    let codedeploy = aws_sdk_codedeploy::Client::new(config);
    let task_definition = ecs
        .register_task_definition()
        .family("greenlight")
        .container_definitions(
            ContainerDefinition::builder()
                .name("greenlight")
                .image(image)
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTaskDefinition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("task definition arn");
    let unique = format!("{}", unique_number());
    let app = format!("greenlight-{unique}");
    codedeploy
        .create_application()
        .application_name(&app)
        .compute_platform(ComputePlatform::Ecs)
        .send()
        .await
        .expect("CreateApplication");
    codedeploy
        .create_deployment_group()
        .application_name(&app)
        .deployment_group_name("greenlight")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .deployment_style(
            DeploymentStyle::builder()
                .deployment_type(DeploymentType::BlueGreen)
                .deployment_option(DeploymentOption::WithTrafficControl)
                .build(),
        )
        .send()
        .await
        .expect("CreateDeploymentGroup");
    let appspec = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{task_definition}\"\n        LoadBalancerInfo:\n          ContainerName: greenlight\n          ContainerPort: 8080\nHooks:\n  - AfterAllowTestTraffic: greenlight-hook\n"
    );
    codedeploy
        .create_deployment()
        .application_name(&app)
        .deployment_group_name("greenlight")
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(AppSpecContent::builder().content(appspec).build())
                .build(),
        )
        .send()
        .await
        .expect("CreateDeployment")
        .deployment_id
        .expect("deployment id")
}

pub fn unique_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    u64::from(std::process::id()) * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A running `greenlight` server.
pub struct Greenlight {
    pub url: String,
    _proc: Proc,
}

impl Greenlight {
    /// Starts the real binary on a free loopback port with `env`, and waits for /health.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(binary("GREENLIGHT_BIN", "greenlight"));
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOG_FORMAT", "json")
            .env_remove("LLM_PROVIDER")
            .env_remove("IMAGE_URI")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let proc = Proc(command.spawn().expect("start greenlight"));
        let url = format!("http://127.0.0.1:{port}");
        wait_for_health(&url);
        Self { url, _proc: proc }
    }
}

fn wait_for_health(url: &str) {
    let until = Instant::now() + Duration::from_secs(15);
    let addr = url.trim_start_matches("http://").to_owned();
    while Instant::now() < until {
        if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
            let request =
                format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut reply = String::new();
                let _ = std::io::Read::read_to_string(&mut stream, &mut reply);
                if reply.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("greenlight at {url} did not answer /health within 15 s");
}

/// A running fake OpenAI-compatible upstream.
pub struct FakeLlm {
    /// The OpenAI base URL (ends in /v1).
    pub base_url: String,
    _proc: Proc,
    // Kept open: fake-llm may log to stdout after its first line.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl FakeLlm {
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(binary("FAKE_LLM_BIN", "fake-llm"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fake-llm");
        let stdout = child.stdout.take().expect("fake-llm stdout");
        let proc = Proc(child);
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout
            .read_line(&mut line)
            .expect("fake-llm prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("fake-llm said {line:?}"));
        Self {
            base_url: format!("{addr}/v1"),
            _proc: proc,
            _stdout: stdout,
        }
    }
}

/// A unique ALB full name (`app/<name>/<id>`) and its nodes' network interfaces in moto, with
/// `ips` as their private addresses (tests/moto/alb_nodes.py, through boto3).
pub fn create_alb_nodes(ips: &[&str]) -> String {
    let full_name = format!(
        "app/greenlight-{}/{:016x}",
        unique_number(),
        unique_number()
    );
    let output = Command::new(python())
        .arg(root().join("tests/moto/alb_nodes.py"))
        .arg(&moto().endpoint)
        .arg(REGION)
        .arg(&full_name)
        .args(ips)
        .output()
        .expect("run tests/moto/alb_nodes.py");
    assert!(
        output.status.success(),
        "alb_nodes.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    full_name
}
