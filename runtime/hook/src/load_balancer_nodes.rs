//! The private addresses of the load balancer's nodes, from EC2 `DescribeNetworkInterfaces`.
//!
//! The test listener is on the internet-facing ALB, whose DNS name resolves to public addresses.
//! From the private subnets those are reachable only through a NAT (none in VPC-endpoints mode),
//! and the ALB then sees the NAT's address instead of the hook's security group. Every ALB node
//! is a network interface described `ELB app/<name>/<id>` with a private address in the VPC:
//! connecting there keeps the check inside the VPC in every egress mode and lets the test
//! listener admit exactly the hook's security group. The nodes change as the ALB scales, so
//! they are looked up on every invocation.
//!
//! One call, sent as a signed Query request instead of through `aws-sdk-ec2`: that crate is
//! generated code for every EC2 operation, and a debug build of it alone ran for over three
//! minutes on the 2-core CI machine without finishing, for one read. Credentials, signing
//! (`aws-sigv4`) and XML (`aws-smithy-xml`) are the AWS SDK's own crates.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};
use backon::{ExponentialBuilder, Retryable};
use greenlight_smoke::{describe_error as describe, excerpt, tls_roots};
use url::Url;

/// The EC2 Query API version these requests speak.
const API_VERSION: &str = "2016-11-15";
/// Bound of each attempt; retries and the hook's whole-run deadline bound the lookup.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("no AWS region is configured (AWS_REGION)")]
    NoRegion,
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("cannot sign the EC2 request: {0}")]
    Signing(String),
    #[error("EC2 DescribeNetworkInterfaces failed: {0}")]
    Transport(String),
    #[error("EC2 DescribeNetworkInterfaces answered HTTP {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("EC2 DescribeNetworkInterfaces answered XML this hook cannot read: {0}")]
    Response(String),
    #[error(
        "no network interface is described {description:?}: is TEST_LISTENER_LOAD_BALANCER the full name of the load balancer in this account and region?"
    )]
    NotFound { description: String },
}

impl NodesError {
    /// Throttling, 5xx and transport failures may pass on a retry; the rest will not.
    fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, code, .. } => {
                *status >= 500
                    || matches!(
                        code.as_str(),
                        "RequestLimitExceeded" | "Throttling" | "ThrottlingException"
                    )
            }
            _ => false,
        }
    }
}

/// Looks up a load balancer's node addresses with the Lambda's own credentials and region.
#[derive(Clone, Debug)]
pub struct LoadBalancerNodes {
    http: reqwest::Client,
    endpoint: Option<Url>,
    region: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
}

impl LoadBalancerNodes {
    /// Uses `config`'s region, credentials and endpoint override (`AWS_ENDPOINT_URL`);
    /// `AWS_ENDPOINT_URL_EC2` wins over the latter, as it does for the SDK's own clients.
    pub fn new(config: &SdkConfig) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .or_else(|| config.endpoint_url().map(str::to_owned))
            .and_then(|raw| Url::parse(&raw).ok());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(ATTEMPT_TIMEOUT)
            .tls_certs_only(tls_roots())
            .build()
            // Only a TLS backend failing to start makes this fail; the default client then
            // still answers with a clear error per request instead of a panic here.
            .unwrap_or_default();
        Self {
            http,
            endpoint,
            region: config.region().map(|r| r.as_ref().to_owned()),
            credentials: config.credentials_provider(),
        }
    }

    /// The private addresses of the nodes of the ALB named `full_name` (`app/<name>/<id>`),
    /// in the order EC2 lists them, without repeats. Never empty on success.
    pub async fn addresses(&self, full_name: &str) -> Result<Vec<IpAddr>, NodesError> {
        let description = format!("ELB {full_name}");
        let addresses = (|| self.describe(&description))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(3)
                    .with_jitter(),
            )
            .when(NodesError::is_transient)
            .notify(|error, delay| {
                tracing::warn!(%error, ?delay, "DescribeNetworkInterfaces failed; retrying");
            })
            .await?;
        if addresses.is_empty() {
            return Err(NodesError::NotFound { description });
        }
        Ok(addresses)
    }

    async fn describe(&self, description: &str) -> Result<Vec<IpAddr>, NodesError> {
        let region = self.region.as_deref().ok_or(NodesError::NoRegion)?;
        let endpoint = match &self.endpoint {
            Some(url) => url.to_string(),
            None => default_endpoint(region),
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "DescribeNetworkInterfaces")
            .append_pair("Version", API_VERSION)
            .append_pair("Filter.1.Name", "description")
            .append_pair("Filter.1.Value.1", description)
            .finish();
        let credentials = self
            .credentials
            .as_ref()
            .ok_or_else(|| NodesError::Credentials("no credentials provider".into()))?
            .provide_credentials()
            .await
            .map_err(|e| NodesError::Credentials(describe(&e)))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| NodesError::Signing(e.to_string()))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            endpoint.as_str(),
            std::iter::once(("content-type", content_type)),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| NodesError::Signing(describe(&e)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| NodesError::Signing(describe(&e)))?
            .into_parts();
        let mut request = self
            .http
            .post(&endpoint)
            .header("content-type", content_type);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| NodesError::Transport(describe(&e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| NodesError::Transport(describe(&e)))?;
        if !status.is_success() {
            let (code, message) = parse_error(&text);
            return Err(NodesError::Api {
                status: status.as_u16(),
                code,
                message,
            });
        }
        parse_addresses(&text)
    }
}

/// EC2's regional endpoint (inside the VPC, the interface endpoint's private DNS answers it).
fn default_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{domain}/")
}

/// `networkInterfaceSet/item/privateIpAddress` of a DescribeNetworkInterfaces response.
fn parse_addresses(xml: &str) -> Result<Vec<IpAddr>, NodesError> {
    let bad = |e: &dyn std::fmt::Display| NodesError::Response(e.to_string());
    let mut document = Document::new(xml);
    let mut root = document.root_element().map_err(|e| bad(&e))?;
    let mut addresses = Vec::new();
    while let Some(mut set) = root.next_tag() {
        if !set.start_el().matches("networkInterfaceSet") {
            continue;
        }
        while let Some(mut item) = set.next_tag() {
            if let Some(raw) = child_text(&mut item, "privateIpAddress")? {
                let ip: IpAddr = raw
                    .trim()
                    .parse()
                    .map_err(|_| bad(&format!("privateIpAddress {raw:?} is not an address")))?;
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
        }
    }
    Ok(addresses)
}

/// The text of `element`'s first direct child named `name`.
fn child_text(element: &mut ScopedDecoder, name: &str) -> Result<Option<String>, NodesError> {
    while let Some(mut child) = element.next_tag() {
        if child.start_el().matches(name) {
            let text = try_data(&mut child).map_err(|e| NodesError::Response(e.to_string()))?;
            return Ok(Some(text.into_owned()));
        }
    }
    Ok(None)
}

/// `Response/Errors/Error/{Code,Message}` of an EC2 error; the body itself when it is not that.
fn parse_error(xml: &str) -> (String, String) {
    let fallback = || ("Unknown".to_owned(), excerpt(xml));
    let mut document = Document::new(xml);
    let Ok(mut root) = document.root_element() else {
        return fallback();
    };
    while let Some(mut errors) = root.next_tag() {
        if !errors.start_el().matches("Errors") {
            continue;
        }
        while let Some(mut error) = errors.next_tag() {
            let (mut code, mut message) = (None, None);
            while let Some(mut field) = error.next_tag() {
                let text = try_data(&mut field).ok().map(|t| t.into_owned());
                if field.start_el().matches("Code") {
                    code = text;
                } else if field.start_el().matches("Message") {
                    message = text;
                }
            }
            if let Some(code) = code {
                return (code, message.unwrap_or_default());
            }
        }
    }
    fallback()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from the EC2 API reference's DescribeNetworkInterfaces example response.
    const TWO_NODES: &str = r#"<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>fc45294c-006b-457b-bab9-012f5b3b0e40</requestId>
  <networkInterfaceSet>
    <item>
      <networkInterfaceId>eni-0f7db67b</networkInterfaceId>
      <description>ELB app/greenlight/50dc6c495c0c9188</description>
      <privateIpAddress>10.0.0.146</privateIpAddress>
      <privateIpAddressesSet>
        <item><privateIpAddress>10.0.0.146</privateIpAddress><primary>true</primary></item>
      </privateIpAddressesSet>
      <association><publicIp>203.0.113.10</publicIp></association>
    </item>
    <item>
      <networkInterfaceId>eni-a66ed5f5</networkInterfaceId>
      <privateIpAddress>10.0.1.77</privateIpAddress>
    </item>
  </networkInterfaceSet>
</DescribeNetworkInterfacesResponse>"#;

    #[test]
    fn reads_each_nodes_primary_private_address() {
        let found = parse_addresses(TWO_NODES).expect("valid response");
        assert_eq!(
            found,
            vec![
                "10.0.0.146".parse::<IpAddr>().expect("ip"),
                "10.0.1.77".parse().expect("ip")
            ]
        );
    }

    #[test]
    fn an_empty_set_is_no_address_and_garbage_is_an_error() {
        let empty = r#"<DescribeNetworkInterfacesResponse><requestId>x</requestId><networkInterfaceSet/></DescribeNetworkInterfacesResponse>"#;
        assert_eq!(parse_addresses(empty).expect("valid"), Vec::<IpAddr>::new());
        let bad = r#"<R><networkInterfaceSet><item><privateIpAddress>ten</privateIpAddress></item></networkInterfaceSet></R>"#;
        let error = parse_addresses(bad).expect_err("not an address");
        assert!(
            error.to_string().contains("\"ten\" is not an address"),
            "{error}"
        );
        assert!(parse_addresses("not xml").is_err());
    }

    #[test]
    fn api_errors_keep_code_and_message() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>abc</RequestID></Response>"#;
        assert_eq!(
            parse_error(xml),
            (
                "UnauthorizedOperation".to_owned(),
                "You are not authorized to perform this operation.".to_owned()
            )
        );
        assert_eq!(parse_error("<html>bad gateway</html>").0, "Unknown");
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        let api = |status, code: &str| NodesError::Api {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(api(503, "Unavailable").is_transient());
        assert!(api(400, "RequestLimitExceeded").is_transient());
        assert!(!api(403, "UnauthorizedOperation").is_transient());
        assert!(NodesError::Transport("reset".into()).is_transient());
        assert!(!NodesError::NoRegion.is_transient());
    }

    #[test]
    fn the_default_endpoint_follows_the_partition() {
        assert_eq!(
            default_endpoint("eu-west-1"),
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
    }
}
