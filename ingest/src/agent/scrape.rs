//! Scraping, the pure part: which targets a job has, and how one scrape's body becomes the
//! series to send — target labels attached as Prometheus does (`honor_labels`, `exported_`),
//! metric relabeling, the synthesized `up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped` and `scrape_samples_post_metric_relabeling`, and staleness markers
//! for series that disappeared since the previous scrape or whose target went down.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use argus_model::labels::hash_label_pairs;
use argus_model::{Label, Labels, METRIC_NAME, PrehashedState, Sample, stale_nan};

use super::config::{AgentConfig, ScrapeConfig};
use super::relabel::{RelabelRule, relabel};
use super::ship::EncodedSeries;
use crate::exposition::{self, Format, TextLabel};

/// The URL prefix of the host input: `host:/proc` is "read this machine's `/proc`"
/// ([`super::host`]).
pub const HOST_SOURCE: &str = "host:";

/// One thing to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http(s)://…`, or `host:<proc root>` for the host input.
    pub url: String,
    /// `job`, `instance` and the static and relabeled labels, attached to every series.
    pub labels: Labels,
    pub honor_labels: bool,
    pub metric_relabel: Vec<RelabelRule>,
    pub interval: Duration,
    pub timeout: Duration,
}

/// The targets of every job, after `relabel_configs`.
pub fn targets(config: &AgentConfig) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for job in &config.scrape_configs {
        let (interval, timeout) = config.timing(job);
        let target_rules = compile(&job.relabel_configs)?;
        let metric_relabel = compile(&job.metric_relabel_configs)?;
        for address in job.static_configs.iter().flat_map(|s| s.targets.iter().map(move |t| (s, t))) {
            let (static_config, address) = address;
            let Some(labels) = relabel(&target_rules, initial_labels(job, address, &static_config.labels))
            else {
                continue;
            };
            let part = |name: &str| labels.get(name).map(String::as_str).unwrap_or_default();
            let (scheme, address, path) = (part("__scheme__"), part("__address__"), part("__metrics_path__"));
            if scheme.is_empty() || address.is_empty() {
                tracing::warn!(job = %job.job_name, "relabeling removed a target's __scheme__ or __address__; not scraping it");
                continue;
            }
            let url = format!("{scheme}://{address}{path}");
            let mut public: BTreeMap<String, String> = labels
                .iter()
                .filter(|(name, _)| !name.starts_with("__"))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            public.entry("instance".to_string()).or_insert_with(|| address.to_string());
            targets.push(Target {
                url,
                labels: Labels::from_pairs(public).map_err(|e| format!("job {:?}: {e}", job.job_name))?,
                honor_labels: job.honor_labels,
                metric_relabel: metric_relabel.clone(),
                interval,
                timeout,
            });
        }
    }
    if let Some(host) = &config.host_metrics {
        let interval = host.interval.unwrap_or(config.global.scrape_interval).0;
        let mut labels = host.labels.clone();
        labels.insert("job".to_string(), host.job_name.clone());
        labels.insert("instance".to_string(), host_name());
        targets.push(Target {
            url: format!("{HOST_SOURCE}/proc"),
            labels: Labels::from_pairs(labels).map_err(|e| format!("host_metrics: {e}"))?,
            honor_labels: false,
            metric_relabel: Vec::new(),
            interval,
            timeout: interval,
        });
    }
    Ok(targets)
}

/// This machine's name, as node_exporter's `instance` would usually say.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

fn compile(rules: &[RelabelRule]) -> Result<Vec<RelabelRule>, String> {
    rules.iter().cloned().map(RelabelRule::compiled).collect()
}

/// A target's labels before relabeling, as Prometheus builds them.
fn initial_labels(
    job: &ScrapeConfig,
    address: &str,
    static_labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = static_labels.clone();
    labels.insert("__address__".to_string(), address.to_string());
    labels.insert("__scheme__".to_string(), job.scheme.clone());
    labels.insert("__metrics_path__".to_string(), job.metrics_path.clone());
    labels.insert("job".to_string(), job.job_name.clone());
    labels
}

/// What a scrape returned: the body and its `Content-Type`, or why it failed.
pub type ScrapeBody = Result<(String, Option<String>), String>;

/// A target's memory between scrapes: the hashes of the series the last scrape produced, and
/// its body, parsed again only when series disappeared (to name them in staleness markers).
/// Keeping the body rather than the label sets costs a tenth of the memory.
#[derive(Debug, Default)]
pub struct TargetState {
    last_hashes: HashSet<u64, PrehashedState>,
    last_body: Option<(String, Option<String>)>,
}

/// Turns one scrape into the samples to send, at `time` (ms): the scraped series (or none when
/// the scrape failed), staleness markers for series gone since the last scrape, and the
/// synthesized series.
pub fn process_scrape(
    target: &Target,
    state: &mut TargetState,
    body: ScrapeBody,
    time: i64,
    took: Duration,
) -> EncodedSeries {
    let (scrape, kept_body) = match body {
        Ok((text, content_type)) => {
            match series_of(target, &text, content_type.as_deref(), Sampled::AsScraped(time)) {
                Ok(scrape) => (scrape, Some((text, content_type))),
                Err(error) => {
                    tracing::debug!(target = %target.url, %error, "scrape body does not parse");
                    (Scraped::default(), None)
                }
            }
        }
        Err(error) => {
            tracing::debug!(target = %target.url, %error, "scrape failed");
            (Scraped::default(), None)
        }
    };
    let Scraped { series: mut out, hashes: current, samples_in_body: scraped } = scrape;
    let up = kept_body.is_some();
    let post_relabel = out.samples();
    if !state.last_hashes.is_subset(&current)
        && let Some((text, content_type)) = &state.last_body
        && let Ok(gone) =
            series_of(target, text, content_type.as_deref(), Sampled::StaleUnlessIn(&current, time))
    {
        out.append(&gone.series);
    }
    state.last_hashes = current;
    state.last_body = kept_body;
    let synthesized = [
        ("up", if up { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", took.as_secs_f64()),
        ("scrape_samples_scraped", scraped as f64),
        ("scrape_samples_post_metric_relabeling", post_relabel as f64),
    ];
    for (name, value) in synthesized {
        let labels = target.labels.with(METRIC_NAME, name);
        out.push(labels.iter().map(|l| (&*l.name, &*l.value)), &[Sample::new(time, value)]);
    }
    out
}

/// Which sample a series of a scraped body gets.
#[derive(Clone, Copy)]
enum Sampled<'a> {
    /// The one on its line, stamped at this time when the line has none.
    AsScraped(i64),
    /// A staleness marker at this time, for the series whose hash is not in the set; the
    /// others are left out.
    StaleUnlessIn(&'a HashSet<u64, PrehashedState>, i64),
}

/// What a scraped body holds for the target.
#[derive(Default)]
struct Scraped {
    /// With the target's labels and metric relabeling applied, each series once.
    series: EncodedSeries,
    /// Their label sets' hashes.
    hashes: HashSet<u64, PrehashedState>,
    samples_in_body: usize,
}

/// The series of a scraped body with the target's labels and metric relabeling applied,
/// encoded straight from the body's text. A series repeated in one exposition keeps its first
/// sample, as Prometheus does.
fn series_of(
    target: &Target,
    text: &str,
    content_type: Option<&str>,
    sampled: Sampled<'_>,
) -> Result<Scraped, String> {
    let mut lines = exposition::SampleLines::new(text, Format::of_content_type(content_type));
    let mut scraped = Scraped::default();
    let target_labels = target.labels.iter().as_slice();
    let mut labels = Vec::new();
    while let Some(line) = lines.next_into(&mut labels) {
        let (value, timestamp) = line.map_err(|e| e.to_string())?;
        scraped.samples_in_body += 1;
        let clash =
            target_labels.iter().any(|t| labels.binary_search_by(|(name, _)| (*name).cmp(&*t.name)).is_ok());
        if clash || !target.metric_relabel.is_empty() {
            let Some(pairs) = relabeled_series(target, &labels) else { continue };
            scraped.write(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), value, timestamp, sampled);
        } else {
            scraped.write(Merged { scraped: &labels, target: target_labels }, value, timestamp, sampled);
        }
    }
    Ok(scraped)
}

impl Scraped {
    /// Writes a series, unless a series with the same labels came first or `sampled` leaves it
    /// out.
    fn write<'l>(
        &mut self,
        labels: impl Iterator<Item = (&'l str, &'l str)> + Clone,
        value: f64,
        timestamp: Option<i64>,
        sampled: Sampled<'_>,
    ) {
        let hash = hash_label_pairs(labels.clone());
        if !self.hashes.insert(hash) {
            return;
        }
        let sample = match sampled {
            Sampled::AsScraped(time) => Sample::new(timestamp.unwrap_or(time), value),
            Sampled::StaleUnlessIn(current, _) if current.contains(&hash) => return,
            Sampled::StaleUnlessIn(_, time) => Sample::new(time, stale_nan()),
        };
        self.series.push(labels, &[sample]);
    }
}

/// A scraped label set and the target's, merged in name order, when no name is in both.
#[derive(Clone)]
struct Merged<'s, 't> {
    scraped: &'s [TextLabel<'t>],
    target: &'s [Label],
}

impl<'s> Iterator for Merged<'s, '_> {
    type Item = (&'s str, &'s str);

    fn next(&mut self) -> Option<Self::Item> {
        let take_scraped = match (self.scraped.first(), self.target.first()) {
            (Some(scraped), Some(target)) => scraped.0 < &*target.name,
            (scraped, _) => scraped.is_some(),
        };
        if take_scraped {
            let ((name, value), rest) = self.scraped.split_first()?;
            self.scraped = rest;
            Some((name, value))
        } else {
            let (label, rest) = self.target.split_first()?;
            self.target = rest;
            Some((&label.name, &label.value))
        }
    }
}

/// A scraped series with the target's labels added and metric relabeling applied, as owned
/// pairs in name order; `None` when relabeling drops it. On a clash, the scraped value wins
/// with `honor_labels`, else it moves to `exported_<name>` (more `exported_` prefixes while
/// that is taken too, as Prometheus does).
fn relabeled_series(target: &Target, scraped: &[TextLabel<'_>]) -> Option<BTreeMap<String, String>> {
    let mut labels: BTreeMap<String, String> =
        scraped.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    for label in target.labels.iter() {
        match labels.get_mut(&*label.name) {
            Some(_) if target.honor_labels => {}
            Some(value) => {
                let scraped_value = std::mem::replace(value, label.value.to_string());
                let mut name = format!("exported_{}", label.name);
                while labels.contains_key(&name) {
                    name.insert_str(0, "exported_");
                }
                labels.insert(name, scraped_value);
            }
            None => {
                labels.insert(label.name.to_string(), label.value.to_string());
            }
        }
    }
    let mut labels =
        if target.metric_relabel.is_empty() { labels } else { relabel(&target.metric_relabel, labels)? };
    labels.retain(|_, value| !value.is_empty());
    Some(labels)
}

#[cfg(test)]
mod tests {
    use argus_model::proto::prometheus::WriteRequest;
    use argus_model::{SeriesSamples, is_stale_nan};
    use prost::Message;

    use super::*;

    fn config(yaml: &str) -> AgentConfig {
        AgentConfig::parse(&format!("outputs: [{{url: 'http://127.0.0.1:9797/api/v1/write'}}]\n{yaml}"))
            .unwrap()
    }

    fn target(honor_labels: bool) -> Target {
        let config = config(&format!(
            "scrape_configs:\n- job_name: node\n  honor_labels: {honor_labels}\n  static_configs: [{{targets: ['h:9100'], labels: {{env: prod}}}}]\n"
        ));
        targets(&config).unwrap().remove(0)
    }

    /// [`process_scrape`], its output decoded.
    fn scrape(
        target: &Target,
        state: &mut TargetState,
        body: ScrapeBody,
        time: i64,
        took: Duration,
    ) -> Vec<SeriesSamples> {
        let encoded = process_scrape(target, state, body, time, took);
        let request = WriteRequest::decode(encoded.request()).unwrap();
        let series: Vec<SeriesSamples> = request
            .timeseries
            .into_iter()
            .map(|series| SeriesSamples {
                labels: Labels::from_pairs(series.labels.into_iter().map(|l| (l.name, l.value))).unwrap(),
                samples: series.samples.into_iter().map(|s| Sample::new(s.timestamp, s.value)).collect(),
            })
            .collect();
        assert_eq!(encoded.samples(), series.iter().map(|s| s.samples.len()).sum::<usize>());
        series
    }

    fn find<'a>(series: &'a [SeriesSamples], name: &str) -> Vec<&'a SeriesSamples> {
        series.iter().filter(|s| s.labels.metric_name() == Some(name)).collect()
    }

    #[test]
    fn targets_get_job_instance_static_labels_and_relabeling() {
        let config = config(concat!(
            "scrape_configs:\n",
            "- job_name: node\n",
            "  metrics_path: /m\n",
            "  static_configs: [{targets: ['a:1', 'b:2'], labels: {env: prod}}]\n",
            "  relabel_configs:\n",
            "  - {source_labels: [__address__], regex: 'b:.*', action: drop}\n",
            "  - {source_labels: [__address__], regex: '(.*):.*', target_label: host}\n",
        ));
        let targets = targets(&config).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].url, "http://a:1/m");
        let want = Labels::from_pairs([("env", "prod"), ("host", "a"), ("instance", "a:1"), ("job", "node")])
            .unwrap();
        assert_eq!(targets[0].labels, want);
    }

    #[test]
    fn scrapes_attach_labels_synthesize_series_and_mark_stale() {
        let target = target(false);
        let mut state = TargetState::default();
        let body = "a{job=\"inner\"} 1\nb 2 1700000000000\nb 3\n".to_string();
        let first = scrape(&target, &mut state, Ok((body, None)), 1000, Duration::from_millis(20));
        let a = find(&first, "a")[0];
        assert_eq!(a.labels.get("job"), Some("node"));
        assert_eq!(a.labels.get("exported_job"), Some("inner"));
        assert_eq!(a.labels.get("instance"), Some("h:9100"));
        assert_eq!(a.samples, [Sample::new(1000, 1.0)]);
        let b = find(&first, "b");
        assert_eq!(b.len(), 1, "a repeated series keeps its first sample");
        assert_eq!(b[0].samples[0].t, 1_700_000_000_000, "the exposition's timestamp");
        assert_eq!(find(&first, "up")[0].samples[0].v, 1.0);
        assert_eq!(find(&first, "scrape_samples_scraped")[0].samples[0].v, 3.0);
        assert_eq!(find(&first, "scrape_duration_seconds")[0].samples[0].v, 0.02);

        let second = scrape(&target, &mut state, Ok(("b 4\n".to_string(), None)), 2000, Duration::ZERO);
        let gone = find(&second, "a");
        assert!(is_stale_nan(gone[0].samples[0].v), "a disappeared: a staleness marker");
        let down = scrape(&target, &mut state, Err("connection refused".into()), 3000, Duration::ZERO);
        assert_eq!(find(&down, "up")[0].samples[0].v, 0.0);
        assert!(is_stale_nan(find(&down, "b")[0].samples[0].v), "the target is down: its series go stale");
        let bad = scrape(&target, &mut state, Ok(("not { valid\n".to_string(), None)), 4000, Duration::ZERO);
        assert_eq!(find(&bad, "up")[0].samples[0].v, 0.0, "an unparsable body is a failed scrape");
    }

    #[test]
    fn clashing_exported_names_get_more_prefixes() {
        let target = target(false);
        let body = "a{job=\"inner\",exported_job=\"older\"} 1\n".to_string();
        let series = scrape(&target, &mut TargetState::default(), Ok((body, None)), 1, Duration::ZERO);
        let a = find(&series, "a")[0];
        assert_eq!(a.labels.get("job"), Some("node"));
        assert_eq!(a.labels.get("exported_job"), Some("older"));
        assert_eq!(a.labels.get("exported_exported_job"), Some("inner"));
    }

    #[test]
    fn honor_labels_keeps_the_scraped_values() {
        let target = target(true);
        let series = scrape(
            &target,
            &mut TargetState::default(),
            Ok(("a{job=\"inner\"} 1\n".into(), None)),
            1,
            Duration::ZERO,
        );
        let a = find(&series, "a")[0];
        assert_eq!((a.labels.get("job"), a.labels.get("exported_job")), (Some("inner"), None));
    }
}
