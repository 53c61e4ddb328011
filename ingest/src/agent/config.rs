//! `AgentConfig`: the agent's YAML file — where to send data, what to scrape and how to relabel
//! it, which log files and journal units to follow — in Prometheus's shape where Prometheus has
//! one (`scrape_configs`, `static_configs`, `relabel_configs`), so existing job definitions
//! paste in. Unknown keys are errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use argus_model::time::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

use super::relabel::RelabelRule;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the agent serves its own `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the agent keeps its state: the on-disk queue of each output.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where scraped samples go (Prometheus remote write): Argus, Prometheus with its receiver,
    /// VictoriaMetrics, Mimir…
    #[serde(default)]
    pub outputs: Vec<OutputConfig>,
    /// Where log lines go (Loki push): Argus or Loki, e.g. `http://argus:9797/loki/api/v1/push`.
    #[serde(default)]
    pub log_outputs: Vec<OutputConfig>,
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Files to follow.
    #[serde(default)]
    pub logs: Vec<LogInputConfig>,
    /// The systemd journal, read through `journalctl`.
    #[serde(default)]
    pub journal: Vec<JournalInputConfig>,
    /// This machine's own metrics under node_exporter's names, when present.
    #[serde(default)]
    pub host_metrics: Option<HostMetricsConfig>,
}

/// The host input: CPU, memory, load, disks, filesystems and network read from `/proc`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostMetricsConfig {
    /// The `job` label of its series.
    #[serde(default = "default_host_job")]
    pub job_name: String,
    /// Defaults to the global scrape interval.
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    /// More labels for its series (`instance` is the host name).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_host_job() -> String {
    "node".to_string()
}

/// A set of log files to follow, and what their entries carry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogInputConfig {
    /// Glob patterns (`*` and `?` in the file name); files appearing later are picked up.
    pub paths: Vec<String>,
    /// Stream labels of every entry, besides `filename` (and `level` when extracted).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A last line without its newline is sent as it is after waiting this long; so is a
    /// multi-line entry with no next start line.
    #[serde(default = "default_flush_partial_after")]
    pub flush_partial_after: HumanDuration,
    /// A regex matching the first line of an entry: the lines that do not match are joined to
    /// the entry before them (stack traces).
    #[serde(default)]
    pub multiline_start: Option<String>,
    /// Take the time and level from lines in this form (`json` or `logfmt`).
    #[serde(default)]
    pub extract: Option<super::logs::Extract>,
    #[serde(default = "default_time_field")]
    pub time_field: String,
    #[serde(default = "default_level_field")]
    pub level_field: String,
}

/// Entries of the systemd journal, read by running `journalctl --follow`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalInputConfig {
    /// Stream labels of every entry, besides `unit` (its systemd unit, when it has one) and
    /// `level` (from its priority), which win over labels of the same name.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Only the entries of these systemd units (`journalctl --unit`, globs allowed); all
    /// entries when empty. Two journal inputs cannot read the same units.
    #[serde(default)]
    pub units: Vec<String>,
    /// How far back to read on the very first start, when no cursor was saved yet (later
    /// starts resume after the last queued entry); `0s` reads only entries from then on.
    #[serde(default = "default_journal_max_age")]
    pub max_age: HumanDuration,
    /// The `journalctl` binary: a path, or a name looked up in `PATH`.
    #[serde(default = "default_journalctl")]
    pub journalctl: PathBuf,
}

/// As promtail's journal `max_age`.
fn default_journal_max_age() -> HumanDuration {
    HumanDuration::from_secs(7 * 3600)
}

fn default_journalctl() -> PathBuf {
    PathBuf::from("journalctl")
}

fn default_flush_partial_after() -> HumanDuration {
    HumanDuration::from_secs(5)
}

fn default_time_field() -> String {
    "time".to_string()
}

fn default_level_field() -> String {
    "level".to_string()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9798))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./agent-data")
}

/// One remote-write endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Full URL, e.g. `http://argus:9797/api/v1/write`.
    pub url: String,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Samples per request at most.
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: usize,
    /// A batch is sent once this old even when not full.
    #[serde(default = "default_batch_send_deadline")]
    pub batch_send_deadline: HumanDuration,
    /// Longest wait between retries of a failed request.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
    /// Most bytes the output's on-disk queue may hold; when it is full, scraping waits.
    #[serde(default = "default_queue_max_size")]
    pub queue_max_size: ByteSize,
    /// How to talk TLS to an `https://` URL; the system's CA certificates by default.
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
}

impl OutputConfig {
    /// The HTTP client for this output: its TLS settings, and a 30 s limit per request.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        match &self.tls_config {
            Some(tls) => tls.apply(builder),
            None => Ok(builder),
        }?
        .build()
        .map_err(|e| format!("output {}: {e}", self.url))
    }
}

/// TLS settings of an output, as Prometheus's `tls_config`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates to trust, instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate and its private key, for servers that ask for one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate. For tests only: it makes TLS useless against an attacker.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl TlsConfig {
    fn apply(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
        let read =
            |path: &PathBuf| std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()));
        let mut builder = builder.tls_danger_accept_invalid_certs(self.insecure_skip_verify);
        if let Some(ca_file) = &self.ca_file {
            let certificates = reqwest::Certificate::from_pem_bundle(&read(ca_file)?)
                .map_err(|e| format!("{}: {e}", ca_file.display()))?;
            if certificates.is_empty() {
                return Err(format!("{}: no PEM certificate in it", ca_file.display()));
            }
            builder = builder.tls_certs_only(certificates);
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                let pem = [read(cert_file)?, read(key_file)?].concat();
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("{} and {}: {e}", cert_file.display(), key_file.display()))?;
                Ok(builder.identity(identity))
            }
            (None, None) => Ok(builder),
            _ => Err("tls_config: cert_file and key_file go together".to_string()),
        }
    }
}

fn default_queue_max_size() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_max_samples_per_send() -> usize {
    2000
}

fn default_batch_send_deadline() -> HumanDuration {
    HumanDuration::from_secs(5)
}

fn default_max_backoff() -> HumanDuration {
    HumanDuration::from_secs(30)
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// Defaults for every scrape job, as Prometheus's `global`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: HumanDuration,
    pub scrape_timeout: HumanDuration,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self { scrape_interval: HumanDuration::from_secs(60), scrape_timeout: HumanDuration::from_secs(10) }
    }
}

/// One scrape job.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub scrape_interval: Option<HumanDuration>,
    #[serde(default)]
    pub scrape_timeout: Option<HumanDuration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Keep the target's labels when they clash with the job's (`job`, `instance`, target
    /// labels) instead of renaming them `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Applied to each target's labels before scraping (`__address__`, `job`, static labels).
    #[serde(default)]
    pub relabel_configs: Vec<RelabelRule>,
    /// Applied to each scraped series.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelRule>,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` of each target.
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl AgentConfig {
    pub fn parse(text: &str) -> Result<AgentConfig, String> {
        let config: AgentConfig = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what single fields cannot: relations, ranges and regexes.
    pub fn validate(&self) -> Result<(), String> {
        if self.outputs.is_empty() && self.log_outputs.is_empty() {
            return Err("at least one output (or log output) is needed".to_string());
        }
        if (!self.scrape_configs.is_empty() || self.host_metrics.is_some()) && self.outputs.is_empty() {
            return Err("scrape_configs and host_metrics need an entry in outputs".to_string());
        }
        if !self.logs.is_empty() && self.log_outputs.is_empty() {
            return Err("logs need an entry in log_outputs".to_string());
        }
        if !self.journal.is_empty() && self.log_outputs.is_empty() {
            return Err("journal needs an entry in log_outputs".to_string());
        }
        if self.host_metrics.as_ref().and_then(|h| h.interval).is_some_and(|i| i.0.is_zero()) {
            return Err("host_metrics.interval must be positive".to_string());
        }
        for (i, input) in self.logs.iter().enumerate() {
            if let Some(start) = &input.multiline_start {
                regex::Regex::new(start).map_err(|e| format!("invalid multiline_start: {e}"))?;
            }
            check_label_names(&input.labels).map_err(|e| format!("logs[{i}]: {e}"))?;
        }
        self.validate_journal()?;
        for output in self.outputs.iter().chain(&self.log_outputs) {
            if !(output.url.starts_with("http://") || output.url.starts_with("https://")) {
                return Err(format!("output url {:?} must start with http:// or https://", output.url));
            }
            if output.max_samples_per_send == 0 {
                return Err("max_samples_per_send must be positive".to_string());
            }
            output.client()?;
        }
        let mut names = std::collections::HashSet::new();
        for job in &self.scrape_configs {
            if !names.insert(&job.job_name) {
                return Err(format!("job_name {:?} is used twice", job.job_name));
            }
            let (interval, _) = self.timing(job);
            if interval.is_zero() {
                return Err(format!("job {:?}: scrape_interval must be positive", job.job_name));
            }
            if job.scrape_timeout.is_some_and(|timeout| timeout.0 > interval) {
                return Err(format!("job {:?}: scrape_timeout is longer than scrape_interval", job.job_name));
            }
            if !matches!(job.scheme.as_str(), "http" | "https") {
                return Err(format!("job {:?}: scheme must be http or https", job.job_name));
            }
            for rule in job.relabel_configs.iter().chain(&job.metric_relabel_configs) {
                rule.validate().map_err(|e| format!("job {:?}: {e}", job.job_name))?;
            }
        }
        Ok(())
    }

    fn validate_journal(&self) -> Result<(), String> {
        let mut keys = std::collections::HashMap::new();
        for (i, input) in self.journal.iter().enumerate() {
            let context = |e: String| format!("journal[{i}]: {e}");
            check_label_names(&input.labels).map_err(context)?;
            if input.units.iter().any(|unit| unit.trim().is_empty()) {
                return Err(context("units must not be empty strings".to_string()));
            }
            if input.journalctl.as_os_str().is_empty() {
                return Err(context("journalctl must name the journalctl binary".to_string()));
            }
            if let Some(other) = keys.insert(super::journal::input_key(input), i) {
                return Err(context(format!(
                    "reads the same units as journal[{other}], so every entry would be sent twice"
                )));
            }
        }
        Ok(())
    }

    /// The interval and timeout of `job`, its own or the global ones; a global timeout longer
    /// than the job's interval is cut to it, as Prometheus does.
    pub fn timing(&self, job: &ScrapeConfig) -> (std::time::Duration, std::time::Duration) {
        let interval = job.scrape_interval.unwrap_or(self.global.scrape_interval).0;
        let timeout = job.scrape_timeout.unwrap_or(self.global.scrape_timeout).0.min(interval);
        (interval, timeout)
    }
}

/// Refuses a stream label name outputs would refuse (`[a-zA-Z_][a-zA-Z0-9_]*`), so that it
/// is not found out by every request being dropped.
fn check_label_names(labels: &BTreeMap<String, String>) -> Result<(), String> {
    match labels.keys().find(|name| !argus_model::labels::is_valid_label_name(name)) {
        Some(name) => Err(format!("label name {name:?} is not [a-zA-Z_][a-zA-Z0-9_]*")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_loads() {
        let text = include_str!("../../../config/agent.example.yaml");
        let config = AgentConfig::parse(text).unwrap();
        assert_eq!(config.scrape_configs[0].job_name, "node");
        let (interval, timeout) = config.timing(&config.scrape_configs[0]);
        assert_eq!((interval.as_secs(), timeout.as_secs()), (15, 10));
        assert_eq!(config.journal[0].units, ["ssh.service", "nginx.service"]);
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        let output = "outputs: [{url: 'http://a/api/v1/write'}]\n";
        for (yaml, reason) in [
            ("outputs: []\n", "at least one output"),
            (
                "log_outputs: [{url: 'http://a/loki/api/v1/push'}]\nscrape_configs: [{job_name: a}]\n",
                "need an entry in outputs",
            ),
            ("logs: [{paths: [/x]}]\n", "need an entry in log_outputs"),
            ("journal: [{}]\n", "journal needs an entry in log_outputs"),
            (
                "log_outputs: [{url: 'http://a'}]\nlogs: [{paths: [/x], labels: {bad-name: x}}]\n",
                "logs[0]: label name \"bad-name\"",
            ),
            (
                "log_outputs: [{url: 'http://a'}]\njournal: [{labels: {1x: y}}]\n",
                "journal[0]: label name \"1x\"",
            ),
            (
                "log_outputs: [{url: 'http://a'}]\njournal: [{units: ['']}]\n",
                "journal[0]: units must not be empty",
            ),
            (
                "log_outputs: [{url: 'http://a'}]\njournal: [{journalctl: ''}]\n",
                "journal[0]: journalctl must name",
            ),
            (
                "log_outputs: [{url: 'http://a'}]\njournal: [{units: [a, b]}, {units: [b, a], labels: {x: y}}]\n",
                "journal[1]: reads the same units as journal[0]",
            ),
            ("log_outputs: [{url: 'http://a'}]\njournal: [{max_age: 7 hours}]\n", "duration"),
            ("log_outputs: [{url: 'http://a'}]\njournal: [{unit: a}]\n", "unknown field `unit`"),
            (
                "log_outputs: [{url: 'http://a'}]\nlogs: [{paths: [/x], multiline_start: '('}]\n",
                "invalid multiline_start",
            ),
            ("outputs: [{url: 'ftp://a'}]\n", "must start with http"),
            ("scrape_configs: [{job_name: a}, {job_name: a}]\n", "used twice"),
            (
                "scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]\n",
                "longer than scrape_interval",
            ),
            ("scrape_configs: [{job_name: a, relabel_configs: [{regex: '('}]}]\n", "invalid relabel regex"),
            ("scrape_configs: [{job_name: a, bogus: 1}]\n", "unknown field"),
        ] {
            let standalone = yaml.starts_with("outputs") || yaml.starts_with("log_outputs");
            let yaml = if standalone { yaml.to_string() } else { format!("{output}{yaml}") };
            let error = AgentConfig::parse(&yaml).unwrap_err();
            assert!(error.contains(reason), "{yaml}: {error}");
        }
        let capped =
            AgentConfig::parse(&format!("{output}scrape_configs: [{{job_name: a, scrape_interval: 5s}}]\n"))
                .unwrap();
        assert_eq!(
            capped.timing(&capped.scrape_configs[0]).1.as_secs(),
            5,
            "the global timeout is cut to the interval"
        );
    }

    #[test]
    fn journal_inputs_have_promtails_defaults() {
        let config = AgentConfig::parse(
            "log_outputs: [{url: 'http://a/loki/api/v1/push'}]\njournal: [{}, {units: [ssh.service], max_age: 0s, journalctl: /bin/fake}]\n",
        )
        .unwrap();
        let (all, ssh) = (&config.journal[0], &config.journal[1]);
        assert_eq!((all.max_age.0.as_secs(), all.journalctl.to_str()), (7 * 3600, Some("journalctl")));
        assert!(all.units.is_empty() && all.labels.is_empty());
        assert_eq!((ssh.max_age.0.as_secs(), ssh.units.as_slice()), (0, &["ssh.service".to_string()][..]));
    }
}
