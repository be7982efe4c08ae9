//! The InfluxDB client: one `POST` of line protocol to the 2.x/3.x or 1.x write endpoint,
//! over ureq (rustls for `https`), with the answer read as a status rather than an error.
//!
//! The client is the cargo feature `influx` (on by default). A build without it has no
//! HTTP client at all: [`StoreConfig::validate`](crate::StoreConfig::validate) refuses a
//! journal configuration, so no outbox is ever made and [`Target::send`] is never called
//! there; if it were, it would fail like an unreachable server.

#[cfg(feature = "influx")]
use std::io::Read as _;
use std::time::Duration;

use crate::config::{JournalConfig, JournalProtocol};
use crate::error::Error;

/// How much of a refusal's body is kept in `last_error`.
#[cfg(feature = "influx")]
const ERROR_BODY_BYTES: usize = 200;

// HTTP

/// The HTTP agent requests go through.
#[cfg(feature = "influx")]
pub(crate) type Agent = ureq::Agent;
/// No HTTP client in this build (cargo feature `influx` off).
#[cfg(not(feature = "influx"))]
pub(crate) struct Agent;

/// Why a build without the `influx` cargo feature cannot ship.
pub(crate) const NO_CLIENT: &str =
    "this build has no InfluxDB client: enable the cargo feature `influx`";

#[cfg(not(feature = "influx"))]
pub(crate) fn agent(_connect: Duration, _request: Duration) -> Agent {
    Agent
}

#[cfg(feature = "influx")]
pub(crate) fn agent(connect: Duration, request: Duration) -> Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(connect))
        .timeout_global(Some(request))
        // 4xx and 5xx are answers to read, not transport errors.
        .http_status_as_error(false)
        // A redirect means a misconfigured endpoint; a POST body is not replayed.
        .max_redirects(0)
        .user_agent(concat!("store/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Where and how points are written.
#[cfg_attr(not(feature = "influx"), allow(dead_code))]
pub(crate) struct Target {
    /// `…/api/v2/write` or `…/write`, without a query string.
    write_url: String,
    protocol: JournalProtocol,
    organisation: String,
    authorization: Option<String>,
}

impl Target {
    pub(crate) fn new(journal: &JournalConfig) -> Target {
        let endpoint = journal.endpoint_url.trim().trim_end_matches('/');
        let path = match journal.protocol {
            JournalProtocol::V2 => "/api/v2/write",
            JournalProtocol::V1 => "/write",
        };
        Target {
            write_url: format!("{endpoint}{path}"),
            protocol: journal.protocol,
            organisation: journal.organisation.clone(),
            authorization: journal.token.as_ref().map(|token| format!("Token {token}")),
        }
    }

    #[cfg(not(feature = "influx"))]
    pub(crate) fn send(
        &self,
        _agent: &Agent,
        _bucket: &str,
        _body: &str,
    ) -> Result<(), SendFailure> {
        Err(SendFailure {
            status: None,
            detail: format!("send to {}: {NO_CLIENT}", self.write_url),
            retry_after: None,
            source: None,
        })
    }

    #[cfg(feature = "influx")]
    pub(crate) fn send(&self, agent: &Agent, bucket: &str, body: &str) -> Result<(), SendFailure> {
        // `query` percent-encodes each value.
        let mut request = agent.post(&self.write_url);
        request = match self.protocol {
            JournalProtocol::V2 => request
                .query("org", &self.organisation)
                .query("bucket", bucket),
            JournalProtocol::V1 => request.query("db", bucket),
        };
        request = request
            .query("precision", "ms")
            .header("Content-Type", "text/plain; charset=utf-8");
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request
            .send(body.as_bytes())
            .map_err(|source| SendFailure {
                status: None,
                detail: format!("send to {}: {source}", self.write_url),
                retry_after: None,
                source: Some(Box::new(source)),
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        // A short read is enough for the message; a failure to read leaves it empty.
        let _ = response
            .body_mut()
            .as_reader()
            .take(4 * ERROR_BODY_BYTES as u64)
            .read_to_end(&mut body);
        Err(SendFailure {
            status: Some(status),
            detail: truncate(String::from_utf8_lossy(&body).trim(), ERROR_BODY_BYTES).to_owned(),
            retry_after,
            source: None,
        })
    }
}

/// A request that InfluxDB did not acknowledge.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// `None` when no answer came (connection error, timeout).
    pub(crate) status: Option<u16>,
    /// The transport error, or the first bytes of the answer's body.
    detail: String,
    pub(crate) retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SendFailure {
    pub(crate) fn is_transient(&self) -> bool {
        self.status.is_none_or(is_transient_status)
    }

    /// What `last_error` records: the status and the first bytes of the body.
    pub(crate) fn summary(&self) -> String {
        match self.status {
            Some(status) => format!("{status}: {}", self.detail),
            None => self.detail.clone(),
        }
    }

    pub(crate) fn into_error(self, operation: &'static str, points: usize) -> Error {
        let message = match self.status {
            None => format!(
                "InfluxDB unreachable, {points} points kept for retry: {}",
                self.detail
            ),
            Some(status) if is_transient_status(status) => format!(
                "InfluxDB answered {status}, {points} points kept for retry: {}",
                self.detail
            ),
            Some(status) => format!(
                "InfluxDB refused the batch with {status}, {points} points marked failed: {}",
                self.detail
            ),
        };
        Error::Export {
            operation,
            status: self.status,
            message,
            source: self.source,
        }
    }
}

/// Statuses worth retrying: the server is busy, restarting or timed out.
fn is_transient_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// At most `limit` bytes of `text`, cut at a character boundary.
#[cfg_attr(not(feature = "influx"), allow(dead_code))]
fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [300, 301, 400, 401, 403, 404, 413, 422] {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[test]
    fn truncate_good_at_character_boundary() {
        assert_eq!(truncate("abc", 200), "abc");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate(&"x".repeat(500), 200).len(), 200);
    }

    #[test]
    fn target_good_trims_trailing_slash_and_adds_token() {
        let mut journal = JournalConfig::new("http://h:8086/base/", "core", "events");
        journal.token = Some("secret".into());
        let target = Target::new(&journal);
        assert_eq!(target.write_url, "http://h:8086/base/api/v2/write");
        assert_eq!(target.authorization.as_deref(), Some("Token secret"));
        journal.protocol = JournalProtocol::V1;
        assert_eq!(Target::new(&journal).write_url, "http://h:8086/base/write");
    }
}
