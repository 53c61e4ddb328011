//! Scraping, the pure part: which targets a job has, and how one scrape's body becomes the
//! series to send — target labels attached as Prometheus does (`honor_labels`, `exported_`),
//! metric relabeling, the synthesized `up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped` and `scrape_samples_post_metric_relabeling`, and staleness markers
//! for series that disappeared since the previous scrape or whose target went down.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use argus_model::{Label, Labels, METRIC_NAME, PrehashedState, Sample, SeriesSamples, stale_nan};

use super::config::{AgentConfig, ScrapeConfig};
use super::relabel::{RelabelRule, relabel};
use crate::exposition::{self, Format};

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
    /// The target's label strings, shared from one scrape to the next.
    strings: exposition::Interner,
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
) -> Vec<SeriesSamples> {
    let (scrape, kept_body) = match body {
        Ok((text, content_type)) => {
            match series_of(target, &mut state.strings, &text, content_type.as_deref(), time) {
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
    let post_relabel = out.len();
    if !state.last_hashes.is_subset(&current)
        && let Some((text, content_type)) = &state.last_body
        && let Ok(previous) = series_of(target, &mut state.strings, text, content_type.as_deref(), time)
    {
        let gone = previous.series.into_iter().filter(|s| !current.contains(&s.labels.stable_hash()));
        out.extend(
            gone.map(|s| SeriesSamples { labels: s.labels, samples: vec![Sample::new(time, stale_nan())] }),
        );
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
        out.push(SeriesSamples { labels, samples: vec![Sample::new(time, value)] });
    }
    out
}

/// What a scraped body holds for the target.
#[derive(Default)]
struct Scraped {
    /// With the target's labels and metric relabeling applied, each series once.
    series: Vec<SeriesSamples>,
    /// Their label sets' hashes.
    hashes: HashSet<u64, PrehashedState>,
    samples_in_body: usize,
}

/// The series of a scraped body with the target's labels and metric relabeling applied.
fn series_of(
    target: &Target,
    strings: &mut exposition::Interner,
    text: &str,
    content_type: Option<&str>,
    time: i64,
) -> Result<Scraped, String> {
    let parsed = exposition::parse_interned(text, Format::of_content_type(content_type), strings)
        .map_err(|e| e.to_string())?;
    let scraped = parsed.len();
    let mut seen = HashSet::with_capacity_and_hasher(parsed.len(), PrehashedState::default());
    let mut series = Vec::with_capacity(parsed.len());
    let mut buffer = Vec::new();
    for sample in parsed {
        let Some(attached) =
            attach_target_labels(&sample.labels, &target.labels, target.honor_labels, &mut buffer)
        else {
            continue;
        };
        let labels = if target.metric_relabel.is_empty() {
            attached
        } else {
            let pairs = attached.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
            let Some(relabeled) = relabel(&target.metric_relabel, pairs) else { continue };
            let Ok(labels) = Labels::from_pairs(relabeled) else { continue };
            labels
        };
        // A series repeated in one exposition keeps its first sample, as Prometheus does.
        if seen.insert(labels.stable_hash()) {
            series.push(SeriesSamples { labels, samples: vec![sample.sample_or(time)] });
        }
    }
    Ok(Scraped { series, hashes: seen, samples_in_body: scraped })
}

/// Adds the target's labels to a scraped series: on a clash, the scraped value wins with
/// `honor_labels`, else it moves to `exported_<name>` (more `exported_` prefixes while that is
/// taken too, as Prometheus does). The strings are shared, not copied; `buffer` is scratch
/// space kept from one series to the next.
fn attach_target_labels(
    scraped: &Labels,
    target: &Labels,
    honor_labels: bool,
    buffer: &mut Vec<Label>,
) -> Option<Labels> {
    // Both sets are sorted by name: merge them, and leave clashes (rare) to the general case.
    buffer.clear();
    let (mut scraped_labels, mut target_labels) = (scraped.iter().peekable(), target.iter().peekable());
    loop {
        let next = match (scraped_labels.peek(), target_labels.peek()) {
            (Some(s), Some(t)) if s.name == t.name => {
                return attach_clashing_labels(scraped, target, honor_labels);
            }
            (Some(s), Some(t)) if s.name < t.name => scraped_labels.next(),
            (_, Some(_)) => target_labels.next(),
            (Some(_), None) => scraped_labels.next(),
            (None, None) => break,
        };
        buffer.extend(next.cloned());
    }
    Labels::drain_from(buffer).ok()
}

/// [`attach_target_labels`] when both sets have a label of the same name.
fn attach_clashing_labels(scraped: &Labels, target: &Labels, honor_labels: bool) -> Option<Labels> {
    let mut labels: Vec<Label> = scraped.iter().cloned().collect();
    for label in target.iter() {
        match labels.iter().position(|l| l.name == label.name) {
            Some(_) if honor_labels => {}
            Some(at) => {
                let scraped_value = std::mem::replace(&mut labels[at].value, label.value.clone());
                let mut name = format!("exported_{}", label.name);
                while labels.iter().any(|l| *l.name == *name) {
                    name.insert_str(0, "exported_");
                }
                labels.push(Label::new(name, scraped_value));
            }
            None => labels.push(label.clone()),
        }
    }
    Labels::new(labels).ok()
}

#[cfg(test)]
mod tests {
    use argus_model::is_stale_nan;

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
        let first = process_scrape(&target, &mut state, Ok((body, None)), 1000, Duration::from_millis(20));
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

        let second =
            process_scrape(&target, &mut state, Ok(("b 4\n".to_string(), None)), 2000, Duration::ZERO);
        let gone = find(&second, "a");
        assert!(is_stale_nan(gone[0].samples[0].v), "a disappeared: a staleness marker");
        let down =
            process_scrape(&target, &mut state, Err("connection refused".into()), 3000, Duration::ZERO);
        assert_eq!(find(&down, "up")[0].samples[0].v, 0.0);
        assert!(is_stale_nan(find(&down, "b")[0].samples[0].v), "the target is down: its series go stale");
        let bad = process_scrape(
            &target,
            &mut state,
            Ok(("not { valid\n".to_string(), None)),
            4000,
            Duration::ZERO,
        );
        assert_eq!(find(&bad, "up")[0].samples[0].v, 0.0, "an unparsable body is a failed scrape");
    }

    #[test]
    fn clashing_exported_names_get_more_prefixes() {
        let target = target(false);
        let body = "a{job=\"inner\",exported_job=\"older\"} 1\n".to_string();
        let series =
            process_scrape(&target, &mut TargetState::default(), Ok((body, None)), 1, Duration::ZERO);
        let a = find(&series, "a")[0];
        assert_eq!(a.labels.get("job"), Some("node"));
        assert_eq!(a.labels.get("exported_job"), Some("older"));
        assert_eq!(a.labels.get("exported_exported_job"), Some("inner"));
    }

    #[test]
    fn honor_labels_keeps_the_scraped_values() {
        let target = target(true);
        let series = process_scrape(
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
