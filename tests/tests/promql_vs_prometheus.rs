//! Differential test of the PromQL engine: one generated dataset is remote-written to Argus and
//! to a real Prometheus (Debian's 2.42), then a few hundred queries are asked of both, as
//! instant queries at several times and as range queries, and every answer must be the same
//! (label sets exactly, floats within a relative tolerance, order only for `sort`/`sort_desc`).
//!
//! Prometheus 2.42 is the reference here while Argus follows Prometheus 3.x, so the dataset and
//! the queries stay clear of the places where the two versions disagree:
//!
//! - Range and lookback boundaries (closed in 2.x, left-open in 3.x): every sample sits a
//!   millisecond offset off the whole second (`ms % 1000 != 0`), while every evaluation time,
//!   range, offset and `@` time is a whole number of seconds, so no sample can ever sit on a
//!   boundary.
//! - Subquery boundaries (the same change): a subquery's inner evaluations sit on multiples of
//!   its step, so a point lands exactly on the range start whenever `t - offset - range` is a
//!   multiple of the step. Every evaluation time (instants, range-query steps, `@`) is 7 s past
//!   a whole minute and every range and offset a whole number of minutes, and the subquery
//!   steps (30s 45s 1m 2m 5m) never divide such a time. A nested subquery's inner range is
//!   chosen so that it cannot start on a multiple of its step either (`[5m7s:45s]` inside a
//!   `:1m` subquery).
//! - Rate extrapolation towards zero (Prometheus commit 7f912db1, after 2.42): when a counter's
//!   first sample in the window is far from the window start, 2.42 and 3.x cap the
//!   extrapolation differently if the counter would reach zero within about one sample
//!   interval. That needs a counter starting near zero at the start of the data or after a
//!   gap, so the histogram counters start with an observed history (every counter starts far
//!   above its per-window increase).
//! - `holt_winters` (2.x) / `double_exponential_smoothing` (3.x): left out.
//! - Regex `.` matching a newline (3.x only): no label value contains a newline.
//! - `atan2` keeping the metric name in 2.x and dropping it in 3.x: only used between operands
//!   that have no metric name (results of `rate`).
//! - Functions added after 2.42 (`mad_over_time`, `sort_by_label`, `limitk`, `first_over_time`,
//!   …) and native histograms: left out.
//!
//! Everything is compared and every mismatch is printed (query, evaluation time, Argus's and
//! Prometheus's answers) before the test fails with the count. `PROMQL_DIFF_ONLY=text` runs only
//! the queries containing `text`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argus_model::proto::prometheus::{Label, Sample, TimeSeries};
use argus_tests::app::Argus;
use argus_tests::client::remote_write;
use argus_tests::prometheus::Prometheus;
use argus_tests::require_tool;
use reqwest::blocking::Client;
use serde_json::Value;

/// Scrape interval of the generated data.
const STEP_MS: i64 = 15_000;
/// Samples per series at most: 361 steps = 90 minutes.
const STEPS: i64 = 361;
/// Steps per remote-write request (all series' samples of a 5-minute window, in time order, so
/// neither side ever sees a sample more than an hour behind its newest).
const STEPS_PER_REQUEST: i64 = 20;
/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Float comparison: relative tolerance, and an absolute one for results that are zero up to
/// rounding (Prometheus 3.x sums with Kahan compensation, 2.42 does not, so a regression slope
/// that is mathematically 0 may come out as 1e-17 on one side).
const RELATIVE_TOLERANCE: f64 = 1e-6;
const ABSOLUTE_TOLERANCE: f64 = 1e-9;
/// The whole comparison must finish well within this.
const DEADLINE: Duration = Duration::from_secs(240);

/// `(job, instance)` of every generated target.
const TARGETS: [(&str, &str); 6] = [
    ("api", "host-1:9100"),
    ("api", "host-2:9100"),
    ("api", "host-3:9100"),
    ("web", "host-1:9100"),
    ("web", "host-2:9100"),
    ("batch", "host-3:9100"),
];

/// The queries. `{AT}` is replaced by a fixed time inside the data (whole seconds).
const QUERIES: &[&str] = &[
    // --- selectors ---
    r#"http_requests_total"#,
    r#"http_requests_total{job="api"}"#,
    r#"http_requests_total{job!="api"}"#,
    r#"http_requests_total{job=~"api|web"}"#,
    r#"http_requests_total{job!~"api|batch"}"#,
    r#"http_requests_total{instance=~"host-[12]:.*", code="500"}"#,
    r#"http_requests_total{job=~"API"}"#,
    r#"http_requests_total{job=~"a.*", code!~"2.."}"#,
    r#"{__name__=~"http_requests_total|temperature_celsius", job="web"}"#,
    r#"{__name__="temperature_celsius"}"#,
    r#"{job="batch"}"#,
    r#"{__name__=~"request_duration_seconds_(sum|count)"}"#,
    r#"temperature_celsius{room=~"a|fr.*"}"#,
    r#"temperature_celsius{room!~"a"}"#,
    r#"temperature_celsius{nonexistent=""}"#,
    r#"temperature_celsius{room=""}"#,
    r#"temperature_celsius{job=~"a.*|w.*", room!="b"}"#,
    r#"up{job=~".+"}"#,
    r#"nonexistent_metric"#,
    r#"sparse_gauge"#,
    r#"stopping_gauge"#,
    r#"special_values"#,
    r#"temperature_celsius[5m]"#,
    r#"stopping_gauge[10m]"#,
    r#"special_values[2m]"#,
    r#"request_duration_seconds_bucket{le="+Inf"}"#,
    r#"http_requests_total{job="batch"}[2m] offset 3m"#,
    // --- offset and @ ---
    r#"temperature_celsius offset 5m"#,
    r#"temperature_celsius offset 17m30s"#,
    r#"http_requests_total offset -5m"#,
    r#"temperature_celsius @ {AT}"#,
    r#"temperature_celsius @ {AT} offset 10m"#,
    r#"rate(http_requests_total[5m] @ {AT})"#,
    r#"temperature_celsius @ start()"#,
    r#"temperature_celsius @ end()"#,
    r#"rate(http_requests_total[5m] @ end())"#,
    r#"sum_over_time(temperature_celsius[10m] @ start())"#,
    r#"temperature_celsius - temperature_celsius @ start()"#,
    r#"stopping_gauge @ {AT}"#,
    r#"max_over_time(temperature_celsius[10m] offset 1h)"#,
    r#"sum(http_requests_total @ {AT}) by (job)"#,
    // --- counters and gauges over ranges ---
    r#"rate(http_requests_total[5m])"#,
    r#"rate(http_requests_total[1m])"#,
    r#"rate(http_requests_total[30s])"#,
    r#"rate(http_requests_total[20m])"#,
    r#"irate(http_requests_total[5m])"#,
    r#"irate(http_requests_total[45s])"#,
    r#"increase(http_requests_total[10m])"#,
    r#"increase(http_requests_total[1h])"#,
    r#"increase(http_requests_total{job="api",instance="host-3:9100"}[10m])"#,
    r#"delta(temperature_celsius[5m])"#,
    r#"delta(temperature_celsius[20m])"#,
    r#"idelta(temperature_celsius[5m])"#,
    r#"idelta(http_requests_total[2m])"#,
    r#"deriv(temperature_celsius[10m])"#,
    r#"deriv(http_requests_total[5m])"#,
    r#"deriv(sparse_gauge[30m])"#,
    r#"predict_linear(temperature_celsius[10m], 600)"#,
    r#"predict_linear(http_requests_total[15m], 3600)"#,
    r#"changes(up[30m])"#,
    r#"changes(temperature_celsius[5m])"#,
    r#"resets(http_requests_total[1h])"#,
    r#"resets(http_requests_total[10m])"#,
    r#"rate(sparse_gauge[10m])"#,
    r#"rate(sparse_gauge[5m])"#,
    r#"irate(sparse_gauge[15m])"#,
    r#"rate(request_duration_seconds_count[5m])"#,
    r#"rate(stopping_gauge[10m])"#,
    r#"rate(special_values[5m])"#,
    r#"delta(special_values[5m])"#,
    r#"deriv(special_values[5m])"#,
    r#"changes(special_values[10m])"#,
    r#"resets(special_values[10m])"#,
    // --- *_over_time ---
    r#"avg_over_time(temperature_celsius[5m])"#,
    r#"min_over_time(temperature_celsius[10m])"#,
    r#"max_over_time(temperature_celsius[10m])"#,
    r#"sum_over_time(temperature_celsius[10m])"#,
    r#"count_over_time(temperature_celsius[10m])"#,
    r#"quantile_over_time(0.9, temperature_celsius[15m])"#,
    r#"quantile_over_time(0.5, http_requests_total[10m])"#,
    r#"quantile_over_time(0, temperature_celsius[10m])"#,
    r#"quantile_over_time(1, temperature_celsius[10m])"#,
    r#"quantile_over_time(-0.5, temperature_celsius[5m])"#,
    r#"quantile_over_time(1.5, temperature_celsius[5m])"#,
    r#"stddev_over_time(temperature_celsius[10m])"#,
    r#"stdvar_over_time(temperature_celsius[10m])"#,
    r#"last_over_time(temperature_celsius[10m])"#,
    r#"present_over_time(sparse_gauge[10m])"#,
    r#"count_over_time(sparse_gauge[30m])"#,
    r#"last_over_time(stopping_gauge[10m])"#,
    r#"count_over_time(stopping_gauge[10m])"#,
    r#"present_over_time(stopping_gauge[5m])"#,
    r#"max_over_time(special_values[5m])"#,
    r#"min_over_time(special_values[5m])"#,
    r#"avg_over_time(special_values[5m])"#,
    r#"sum_over_time(special_values[5m])"#,
    r#"count_over_time(special_values[5m])"#,
    r#"stddev_over_time(special_values[5m])"#,
    r#"stdvar_over_time(special_values[5m])"#,
    r#"quantile_over_time(0.5, special_values[5m])"#,
    r#"last_over_time(special_values[2m])"#,
    r#"absent_over_time(nonexistent_metric[5m])"#,
    r#"absent_over_time(sparse_gauge{job="api"}[5m])"#,
    r#"absent_over_time(stopping_gauge{how="silent"}[10m])"#,
    r#"absent_over_time(nonexistent_metric{job="x", instance=~"y"}[5m])"#,
    // --- histograms ---
    r#"histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))"#,
    r#"histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))"#,
    r#"histogram_quantile(0.99, sum by (job, le) (rate(request_duration_seconds_bucket[10m])))"#,
    r#"histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket{job="web"}[5m])))"#,
    r#"histogram_quantile(0, rate(request_duration_seconds_bucket[5m]))"#,
    r#"histogram_quantile(1, rate(request_duration_seconds_bucket[5m]))"#,
    r#"histogram_quantile(1.5, rate(request_duration_seconds_bucket[5m]))"#,
    r#"histogram_quantile(-1, rate(request_duration_seconds_bucket[5m]))"#,
    r#"histogram_quantile(0.75, request_duration_seconds_bucket)"#,
    r#"histogram_quantile(0.9, sum without (instance) (increase(request_duration_seconds_bucket[15m])))"#,
    r#"rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])"#,
    // --- aggregations ---
    r#"sum(http_requests_total)"#,
    r#"sum by (job) (rate(http_requests_total[5m]))"#,
    r#"sum without (instance) (rate(http_requests_total[5m]))"#,
    r#"sum(rate(http_requests_total[5m])) by (code)"#,
    r#"min by (job) (temperature_celsius)"#,
    r#"max without (room) (temperature_celsius)"#,
    r#"avg by (job) (temperature_celsius)"#,
    r#"avg(http_requests_total)"#,
    r#"group by (job) (http_requests_total)"#,
    r#"group(temperature_celsius)"#,
    r#"stddev by (job) (temperature_celsius)"#,
    r#"stddev(rate(http_requests_total[5m]))"#,
    r#"stdvar(temperature_celsius)"#,
    r#"stdvar without (code) (rate(http_requests_total[5m]))"#,
    r#"count by (code) (http_requests_total)"#,
    r#"count without (code, instance) (http_requests_total)"#,
    r#"count_values("value", up)"#,
    r#"count_values by (job) ("v", round(temperature_celsius))"#,
    r#"count_values("n", count by (code) (http_requests_total))"#,
    r#"topk(3, temperature_celsius)"#,
    r#"bottomk(2, temperature_celsius)"#,
    r#"topk by (job) (1, rate(http_requests_total[5m]))"#,
    r#"bottomk without (code) (1, http_requests_total)"#,
    r#"topk(2, sparse_gauge)"#,
    r#"topk(scalar(count(up)) - 3, temperature_celsius)"#,
    r#"topk(scalar(nonexistent_metric), up)"#,
    r#"bottomk(NaN, up)"#,
    r#"quantile(0.5, temperature_celsius)"#,
    r#"quantile by (job) (0.9, rate(http_requests_total[5m]))"#,
    r#"quantile(0, temperature_celsius)"#,
    r#"quantile(1.2, temperature_celsius)"#,
    r#"sum(special_values)"#,
    r#"max(special_values)"#,
    r#"min(special_values)"#,
    r#"avg(special_values)"#,
    r#"stddev(special_values)"#,
    r#"quantile(0.5, special_values)"#,
    r#"sum by (kind) (special_values)"#,
    r#"sum by (__name__) ({job="web"})"#,
    r#"count(nonexistent_metric)"#,
    r#"sum(sum by (job, instance) (rate(http_requests_total[5m])))"#,
    r#"avg without (le) (request_duration_seconds_bucket)"#,
    r#"sum by (instance) (up)"#,
    r#"max by (job, instance) (temperature_celsius)"#,
    r#"count(sparse_gauge)"#,
    // --- binary operators ---
    r#"http_requests_total + 1"#,
    r#"2 * temperature_celsius"#,
    r#"temperature_celsius / 0"#,
    r#"-temperature_celsius"#,
    r#"temperature_celsius % 7"#,
    r#"temperature_celsius ^ 2"#,
    r#"temperature_celsius > 20"#,
    r#"temperature_celsius > bool 20"#,
    r#"20 < temperature_celsius"#,
    r#"temperature_celsius == bool temperature_celsius"#,
    r#"temperature_celsius != 20"#,
    r#"1 - up"#,
    r#"up * 100 > 50"#,
    r#"(temperature_celsius > 15) < 30"#,
    r#"temperature_celsius + 2 * 3 > bool 30"#,
    r#"rate(http_requests_total{code="500"}[5m]) / ignoring(code) rate(http_requests_total{code="200"}[5m])"#,
    r#"rate(http_requests_total{code="500"}[5m]) / on(job, instance) rate(http_requests_total{code="200"}[5m])"#,
    r#"http_requests_total * on(job, instance) group_left(version) build_info"#,
    r#"build_info * on(job, instance) group_right(version) http_requests_total"#,
    r#"sum by (job, instance) (rate(http_requests_total[5m])) / on(job) group_left sum by (job) (rate(http_requests_total[5m]))"#,
    r#"http_requests_total > on(job, instance) group_left avg by (job, instance) (http_requests_total)"#,
    r#"temperature_celsius - ignoring(room) group_left avg without (room) (temperature_celsius)"#,
    r#"temperature_celsius >= bool on(job, instance, room) temperature_celsius offset 5m"#,
    r#"vector(1) + on() group_right temperature_celsius"#,
    r#"http_requests_total - http_requests_total offset 10m"#,
    r#"temperature_celsius{room="a"} + on(job, instance) group_left special_values{kind="nan"}"#,
    r#"rate(http_requests_total[5m]) atan2 rate(http_requests_total[10m])"#,
    r#"temperature_celsius and on(job) up == 1"#,
    r#"http_requests_total or temperature_celsius"#,
    r#"temperature_celsius unless on(room) temperature_celsius{room="a"}"#,
    r#"up == 0 or up"#,
    r#"http_requests_total{code="200"} and http_requests_total{job="api"}"#,
    r#"http_requests_total unless on(job) up == 0"#,
    r#"sum(rate(nonexistent_metric[5m])) or vector(0)"#,
    r#"sparse_gauge or on(job) temperature_celsius"#,
    r#"up or up and up unless up"#,
    r#"special_values * 0"#,
    r#"special_values > 0"#,
    r#"special_values == bool special_values"#,
    r#"-special_values"#,
    r#"1 / special_values"#,
    r#"vector(1) + vector(2)"#,
    r#"time() - timestamp(temperature_celsius)"#,
    // --- scalars ---
    r#"1"#,
    r#"-2.5"#,
    r#"NaN"#,
    r#"Inf"#,
    r#"-Inf"#,
    r#"1 + 2 * 3"#,
    r#"(1 + 2) * 3"#,
    r#"2 ^ 3 ^ 2"#,
    r#"2 ^ -1"#,
    r#"-2 ^ 2"#,
    r#"5 % 3"#,
    r#"1 / 0"#,
    r#"-1 / 0"#,
    r#"0 / 0"#,
    r#"1 > bool 2"#,
    r#"scalar(up{job="batch"})"#,
    r#"scalar(up)"#,
    r#"scalar(sum(up))"#,
    r#"scalar(sum(up)) * temperature_celsius"#,
    r#"time()"#,
    r#"time() - 3600"#,
    r#"vector(time())"#,
    r#"vector(5)"#,
    r#"vector(scalar(sum(temperature_celsius)))"#,
    r#""hello""#,
    // --- math functions ---
    r#"abs(temperature_celsius{room="freezer"})"#,
    r#"ceil(temperature_celsius)"#,
    r#"floor(temperature_celsius)"#,
    r#"round(temperature_celsius)"#,
    r#"round(temperature_celsius, 0.5)"#,
    r#"round(temperature_celsius, 5)"#,
    r#"clamp(temperature_celsius, 15, 25)"#,
    r#"clamp(temperature_celsius, 25, 15)"#,
    r#"clamp_max(temperature_celsius, 22)"#,
    r#"clamp_min(temperature_celsius, 18)"#,
    r#"exp(temperature_celsius / 10)"#,
    r#"ln(temperature_celsius)"#,
    r#"log2(temperature_celsius)"#,
    r#"log10(http_requests_total)"#,
    r#"sqrt(temperature_celsius)"#,
    r#"sgn(temperature_celsius - 22)"#,
    r#"abs(special_values)"#,
    r#"ceil(special_values)"#,
    r#"ln(special_values)"#,
    r#"sqrt(special_values)"#,
    r#"clamp(special_values, -1, 10)"#,
    r#"sgn(special_values)"#,
    r#"exp(special_values)"#,
    // --- labels, time, absence, ordering ---
    r#"timestamp(temperature_celsius)"#,
    r#"timestamp(sparse_gauge)"#,
    r#"timestamp(stopping_gauge)"#,
    r#"timestamp(temperature_celsius offset 5m)"#,
    r#"timestamp(temperature_celsius @ {AT})"#,
    r#"absent(nonexistent_metric)"#,
    r#"absent(nonexistent_metric{job="x", instance=~"y", code="500"})"#,
    r#"absent(temperature_celsius)"#,
    r#"absent(stopping_gauge{how="marker"})"#,
    r#"absent(sum(nonexistent_metric))"#,
    r#"sort(temperature_celsius)"#,
    r#"sort_desc(temperature_celsius)"#,
    r#"sort(rate(http_requests_total[5m]))"#,
    r#"sort_desc(sum by (job) (http_requests_total))"#,
    r#"sort(special_values)"#,
    r#"sort_desc(special_values)"#,
    r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
    r#"label_replace(up, "job", "", "job", "api")"#,
    r#"label_replace(temperature_celsius, "room_copy", "room-$1", "room", "(.+)")"#,
    r#"label_replace(up, "foo", "$1", "instance", "nomatch(.*)")"#,
    r#"label_replace(up, "instance", "$2/$1", "instance", "host-([0-9]+):([0-9]+)")"#,
    r#"label_replace(rate(http_requests_total[5m]), "code_class", "${1}xx", "code", "([0-9]).*")"#,
    r#"label_join(up, "endpoint", "/", "job", "instance")"#,
    r#"label_join(temperature_celsius, "room", "-", "room", "job")"#,
    r#"label_join(up, "empty", ",")"#,
    r#"label_join(up, "__name__", "_", "job")"#,
    // --- date functions ---
    r#"year()"#,
    r#"month()"#,
    r#"day_of_month()"#,
    r#"day_of_week()"#,
    r#"day_of_year()"#,
    r#"days_in_month()"#,
    r#"hour()"#,
    r#"minute()"#,
    r#"hour(timestamp(temperature_celsius))"#,
    r#"minute(timestamp(sparse_gauge))"#,
    r#"day_of_year(vector(1709164800))"#,
    r#"day_of_week(vector(1709164800))"#,
    r#"days_in_month(vector(1706745600))"#,
    r#"year(vector(0))"#,
    r#"month(up * 1700000000)"#,
    // --- trigonometry ---
    r#"sin(temperature_celsius)"#,
    r#"cos(temperature_celsius)"#,
    r#"tan(temperature_celsius)"#,
    r#"asin(temperature_celsius / 100)"#,
    r#"acos(temperature_celsius / 100)"#,
    r#"atan(temperature_celsius)"#,
    r#"sinh(temperature_celsius / 10)"#,
    r#"cosh(temperature_celsius / 10)"#,
    r#"tanh(temperature_celsius)"#,
    r#"asinh(temperature_celsius)"#,
    r#"acosh(temperature_celsius)"#,
    r#"atanh(temperature_celsius / 100)"#,
    r#"deg(temperature_celsius)"#,
    r#"rad(temperature_celsius)"#,
    r#"pi()"#,
    r#"sin(special_values)"#,
    // --- subqueries ---
    r#"max_over_time(rate(http_requests_total[5m])[30m:1m])"#,
    r#"avg_over_time(temperature_celsius[10m:])"#,
    r#"min_over_time(temperature_celsius[15m:45s])"#,
    r#"rate(http_requests_total[10m:30s])"#,
    r#"deriv(sum(temperature_celsius)[20m:2m])"#,
    r#"max_over_time(deriv(temperature_celsius[5m])[10m:1m] offset 5m)"#,
    r#"sum_over_time(up[1h:5m] @ {AT})"#,
    r#"count_over_time(sparse_gauge[30m:1m])"#,
    r#"quantile_over_time(0.9, rate(http_requests_total[2m])[20m:1m])"#,
    r#"last_over_time(stopping_gauge[20m:1m])"#,
    r#"max_over_time((temperature_celsius > 20)[10m:])"#,
    r#"max_over_time(avg_over_time(temperature_celsius[5m7s:45s])[15m:1m])"#,
    r#"temperature_celsius[10m:1m]"#,
    r#"count_over_time(stopping_gauge[30m:1m] @ end())"#,
    // --- more corners ---
    r#"http_requests_total offset 5m @ {AT}"#,
    r#"rate(http_requests_total[5m] offset -2m)"#,
    r#"sum(http_requests_total) without (instance, code)"#,
    r#"max_over_time(special_values[1h])"#,
    r#"absent(up{job="batch"} == 5)"#,
    r#"changes(stopping_gauge[1h])"#,
    r#"resets(stopping_gauge[1h])"#,
    r#"timestamp(vector(1))"#,
    r#"vector(1) and on() absent(nonexistent_metric)"#,
    r#"label_replace(http_requests_total, "__name__", "renamed_$1", "code", "(.*)")"#,
    r#"{__name__=~"http_.*"} offset 1m"#,
    r#"sum by (job) (up) == bool on(job) count by (job) (up)"#,
    r#"topk(1, sum by (job) (rate(http_requests_total[5m])))"#,
    r#"quantile_over_time(0.25, sparse_gauge[20m])"#,
    r#"stddev_over_time(sparse_gauge[20m])"#,
    r#"predict_linear(sparse_gauge[30m], 300)"#,
    r#"delta(sparse_gauge[30m])"#,
    r#"idelta(sparse_gauge[30m])"#,
    r#"avg_over_time(http_requests_total[1h] offset 30m)"#,
    r#"increase(http_requests_total[5m:1m])"#,
    r#"deriv(up[1h])"#,
    r#"scalar(vector(3)) + 1"#,
    r#"time() > bool 0"#,
    r#"round(-temperature_celsius{room="freezer"}, 0.3)"#,
    r#"temperature_celsius % -7"#,
    r#"-7 % temperature_celsius"#,
    r#"temperature_celsius ^ 0.5"#,
    r#"http_requests_total and on(job, instance) temperature_celsius"#,
    r#"count by (job) (temperature_celsius > 20) / count by (job) (temperature_celsius)"#,
    r#"http_requests_total * on(job, instance) group_left(nonexistent_label) build_info"#,
    r#"sort_desc(count_values("v", up))"#,
    r#"label_join(http_requests_total, "code", ",", "job", "instance", "code")"#,
    r#"absent_over_time(up{job="batch"}[1m])"#,
    r#"present_over_time(special_values[1m])"#,
    r#"max(temperature_celsius) by (job) - min(temperature_celsius) by (job)"#,
    r#"1 + sum(up) * 2 ^ 2 / 4 % 3"#,
    r#"clamp_max(temperature_celsius, NaN)"#,
    r#"clamp_min(temperature_celsius, NaN)"#,
    r#"clamp(temperature_celsius, NaN, 100)"#,
    r#"topk(1, special_values)"#,
    r#"bottomk(1, special_values{kind!="inf"})"#,
    r#"topk(2, special_values{kind=~"nan|zeros"})"#,
    r#"max by (kind) (special_values) unless special_values > 100"#,
    r#"stdvar_over_time(http_requests_total[30m])"#,
    r#"sum_over_time(up[30m]) / count_over_time(up[30m])"#,
    r#"histogram_quantile(0.5, max by (le) (request_duration_seconds_bucket))"#,
    r#"sum by (le) (request_duration_seconds_bucket) / ignoring(le) group_left sum(request_duration_seconds_count)"#,
    // --- errors: both must fail the same way ---
    r#"1 > 2"#,
    r#"rate(temperature_celsius)"#,
    r#"sum(temperature_celsius"#,
    r#"no_such_function(up)"#,
    r#"label_replace(up, "foo", "$1", "instance", "(.*")"#,
    r#"http_requests_total / on(job) http_requests_total"#,
];

#[test]
fn promql_answers_match_prometheus() {
    let Some(binary) = require_tool("prometheus") else { return };
    let began = Instant::now();

    // The data ends five minutes ago, on a whole minute; evaluation times are 7 s past a whole
    // minute (see the module comment).
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let end = now_ms / 60_000 * 60_000 - 5 * 60_000;
    let start = end - (STEPS - 1) * STEP_MS;
    let dataset = dataset(start);

    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let prometheus = Prometheus::start_with_args(
        &binary,
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n",
        &["--web.enable-remote-write-receiver", "--query.lookback-delta=5m"],
    );

    let mut samples = 0;
    for first_step in (0..STEPS).step_by(STEPS_PER_REQUEST as usize) {
        let from = start + first_step * STEP_MS;
        let to = from + STEPS_PER_REQUEST * STEP_MS;
        let request: Vec<TimeSeries> = dataset
            .iter()
            .filter_map(|series| {
                let samples: Vec<Sample> = series
                    .samples
                    .iter()
                    .filter(|&&(t, _)| t >= from && t < to)
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect();
                (!samples.is_empty()).then(|| TimeSeries { labels: series.labels.clone(), samples })
            })
            .collect();
        samples += request.iter().map(|s| s.samples.len()).sum::<usize>();
        let ours = remote_write(&argus.url(""), request.clone());
        assert_eq!(ours.status, 204, "Argus refused a write: {}\n{}", ours.body, argus.log());
        let theirs = remote_write(&prometheus.url(""), request);
        assert_eq!(theirs.status, 204, "Prometheus refused a write: {}\n{}", theirs.body, prometheus.log());
    }
    eprintln!("wrote {} series, {samples} samples to both in {:?}", dataset.len(), began.elapsed());

    let minutes = |m: i64| start + m * 60_000 + 7_000;
    let at = minutes(45) / 1000;
    let instants: Vec<(String, i64)> = [10, 30, 52, 89, 97]
        .iter()
        .map(|&m| (format!("start+{m}m7s"), minutes(m)))
        .chain([("start+38m7s".to_string(), minutes(38))])
        .collect();
    let ranges: Vec<(String, i64, i64, i64)> = vec![
        ("start+60m7s..start+90m7s step 1m".to_string(), minutes(60), minutes(90), 60_000),
        ("start+7s..start+100m7s step 3m".to_string(), minutes(0), minutes(100), 180_000),
    ];

    let only = std::env::var("PROMQL_DIFF_ONLY").ok();
    let client = Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let (mut comparisons, mut both_failed, mut empty_both) = (0, 0, 0);
    // Queries both refused, with how often and Prometheus's error: expected only for the error
    // cases and for range queries of range-vector expressions.
    let mut refused: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut mismatches: Vec<String> = Vec::new();
    let mut mismatched_queries: Vec<String> = Vec::new();
    let mut queries_run = 0;
    let mut timed_out = false;
    // Queries whose answer was empty on both sides every time: by design for a few (absent
    // series, filters that match nothing), a sign of a vacuous query otherwise.
    let mut always_empty: Vec<String> = Vec::new();
    for template in QUERIES {
        let query = template.replace("{AT}", &at.to_string());
        if only.as_ref().is_some_and(|only| !query.contains(only.as_str())) {
            continue;
        }
        if began.elapsed() > DEADLINE {
            timed_out = true;
            break;
        }
        queries_run += 1;
        let ordered = query.starts_with("sort(") || query.starts_with("sort_desc(");
        let mut query_failed = false;
        let empty_before = empty_both;
        let mut check = |when: String, params: Vec<(&str, String)>, path: &str, ordered: bool| {
            let ours = ask(&client, &argus.url(path), &params);
            let theirs = ask(&client, &prometheus.url(path), &params);
            comparisons += 1;
            match (&ours, &theirs) {
                (Answer::Failure { .. }, Answer::Failure { error, .. }) => {
                    both_failed += 1;
                    refused.entry(query.clone()).or_insert((0, error.clone())).0 += 1;
                }
                (Answer::Success { result: a, .. }, Answer::Success { result: b, .. })
                    if a.as_array().is_some_and(|a| a.is_empty())
                        && b.as_array().is_some_and(|b| b.is_empty()) =>
                {
                    empty_both += 1
                }
                _ => {}
            }
            let differences = compare(&ours, &theirs, ordered);
            if !differences.is_empty() {
                query_failed = true;
                let mut text = format!("MISMATCH {query}\n  at {when}\n");
                for line in differences.iter().take(12) {
                    let _ = writeln!(text, "    {line}");
                }
                if differences.len() > 12 {
                    let _ = writeln!(text, "    … {} more differences", differences.len() - 12);
                }
                mismatches.push(text);
            }
        };
        for (name, t) in &instants {
            let params = vec![("query", query.clone()), ("time", seconds(*t)), ("timeout", "15s".into())];
            check(format!("instant {name} (time={})", seconds(*t)), params, "/api/v1/query", ordered);
        }
        for (name, from, to, step) in &ranges {
            let params = vec![
                ("query", query.clone()),
                ("start", seconds(*from)),
                ("end", seconds(*to)),
                ("step", seconds(*step)),
                ("timeout", "15s".into()),
            ];
            check(
                format!(
                    "range {name} (start={} end={} step={})",
                    seconds(*from),
                    seconds(*to),
                    seconds(*step)
                ),
                params,
                "/api/v1/query_range",
                false,
            );
        }
        if empty_both - empty_before == instants.len() + ranges.len() {
            always_empty.push(query.clone());
        }
        if query_failed {
            mismatched_queries.push(query);
        }
    }

    for mismatch in &mismatches {
        eprintln!("{mismatch}");
    }
    eprintln!("empty on both sides at every time: {}", always_empty.join("  |  "));
    eprintln!("refused by both:");
    for (query, (times, error)) in &refused {
        eprintln!("  {query}  ({times}x: {error})");
    }
    eprintln!(
        "{queries_run} queries, {comparisons} comparisons ({both_failed} where both failed, {empty_both} where both \
         were empty): {} mismatched comparisons in {} queries; took {:?}",
        mismatches.len(),
        mismatched_queries.len(),
        began.elapsed()
    );
    if !mismatched_queries.is_empty() {
        eprintln!("mismatched queries:");
        for query in &mismatched_queries {
            eprintln!("  {query}");
        }
    }
    assert!(!timed_out, "stopped after {queries_run} of {} queries: ran past {DEADLINE:?}", QUERIES.len());
    assert!(
        mismatches.is_empty(),
        "{} of {comparisons} comparisons differ between Argus and Prometheus ({} of {queries_run} queries)",
        mismatches.len(),
        mismatched_queries.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The dataset.

struct Series {
    labels: Vec<Label>,
    samples: Vec<(i64, f64)>,
}

/// xorshift64*: a fixed seed, so the dataset is the same on every run (relative to `start`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn float(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A timestamp offset inside a 15 s slot, never on a whole second: 1..4999 ms.
    fn jitter(&mut self) -> i64 {
        let ms = 1 + (self.next() % 4999) as i64;
        if ms % 1000 == 0 { ms + 7 } else { ms }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut labels: Vec<Label> =
        pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

/// Every series of the test, samples in time order. Series (86 in all):
/// - `http_requests_total{job,instance,code}`: counters with fractional increments, resets
///   (api/host-2 twice, web/host-1 code 200, batch), and api/host-3 code 500 interrupted by a
///   staleness marker for five minutes;
/// - `temperature_celsius{job,instance,room}`: noisy sine gauges, one of them below zero;
/// - `request_duration_seconds_{bucket,sum,count}{job,instance}`: a classic histogram for the
///   api and web targets, reset with the api/host-2 counters;
/// - `sparse_gauge{job,instance}`: one sample every 7 minutes (gaps longer than the lookback);
/// - `stopping_gauge{how}`: one ends with a staleness marker, one just stops, one is marked
///   stale and comes back;
/// - `special_values{kind}`: NaN, +Inf, -Inf, zeros among normal values;
/// - `build_info{job,instance,version}` = 1 and `up{job,instance}` (0 for a while on two targets).
fn dataset(start: i64) -> Vec<Series> {
    let mut rng = Rng(0x5eed_a2c5_0000_0001);
    let stale = f64::from_bits(STALE_NAN);
    let mut out = Vec::new();
    // Each series gets its own jitter per step.
    let time = |rng: &mut Rng, k: i64| start + k * STEP_MS + rng.jitter();

    for (i, &(job, instance)) in TARGETS.iter().enumerate() {
        for code in ["200", "500"] {
            let mut samples = Vec::new();
            let mut value = if code == "200" { 100.0 + 900.0 * rng.float() } else { 10.0 * rng.float() };
            for k in 0..STEPS {
                let t = time(&mut rng, k);
                let increment = if code == "200" { 2.0 + 20.0 * rng.float() } else { 0.5 * rng.float() };
                let reset = match i {
                    1 => k == 150 || k == 290,
                    3 => code == "200" && k == 200,
                    5 => k == 100,
                    _ => false,
                };
                value = if reset { increment } else { value + increment };
                if i == 2 && code == "500" {
                    if k == 240 {
                        samples.push((t, stale));
                        continue;
                    }
                    if (241..260).contains(&k) {
                        continue;
                    }
                }
                samples.push((t, value));
            }
            out.push(Series {
                labels: labels(&[
                    ("__name__", "http_requests_total"),
                    ("job", job),
                    ("instance", instance),
                    ("code", code),
                ]),
                samples,
            });
        }
    }

    let rooms: [(usize, &str, f64, f64); 7] = [
        (0, "a", 21.0, 6.0),
        (0, "b", 24.5, 4.0),
        (1, "a", 19.0, 7.5),
        (3, "a", 22.3, 3.0),
        (3, "b", 17.2, 9.0),
        (4, "a", 25.1, 2.5),
        (5, "freezer", -18.0, 3.0),
    ];
    for (n, &(target, room, base, amplitude)) in rooms.iter().enumerate() {
        let (job, instance) = TARGETS[target];
        let phase = n as f64 * 0.9;
        let period = 40.0 + 7.0 * n as f64;
        let samples = (0..STEPS)
            .map(|k| {
                let t = time(&mut rng, k);
                let v = base
                    + amplitude * (k as f64 / period * std::f64::consts::TAU + phase).sin()
                    + rng.float();
                (t, v)
            })
            .collect();
        out.push(Series {
            labels: labels(&[
                ("__name__", "temperature_celsius"),
                ("job", job),
                ("instance", instance),
                ("room", room),
            ]),
            samples,
        });
    }

    const BOUNDS: [(f64, &str); 7] = [
        (0.05, "0.05"),
        (0.1, "0.1"),
        (0.25, "0.25"),
        (0.5, "0.5"),
        (1.0, "1"),
        (2.5, "2.5"),
        (f64::INFINITY, "+Inf"),
    ];

    /// Records one observed latency in a histogram's buckets, sum and count.
    fn observe(buckets: &mut [f64; 7], sum: &mut f64, count: &mut f64, latency: f64) {
        for (bucket, &(bound, _)) in buckets.iter_mut().zip(BOUNDS.iter()) {
            if latency <= bound {
                *bucket += 1.0;
            }
        }
        *sum += latency;
        *count += 1.0;
    }
    for (i, &(job, instance)) in TARGETS.iter().enumerate().take(5) {
        let mean = 0.1 + 0.08 * i as f64;
        let mut buckets = [0.0f64; 7];
        let (mut sum, mut count) = (0.0, 0.0);
        // A history before the first sample (see the module comment on extrapolation to zero).
        for _ in 0..2000 {
            observe(&mut buckets, &mut sum, &mut count, -(1.0 - rng.float()).ln() * mean);
        }
        let mut bucket_samples: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 7];
        let (mut sum_samples, mut count_samples) = (Vec::new(), Vec::new());
        for k in 0..STEPS {
            if i == 1 && (k == 150 || k == 290) {
                buckets = [0.0; 7];
                sum = 0.0;
                count = 0.0;
            }
            let observations = if job == "api" { 5 + rng.next() % 20 } else { rng.next() % 6 };
            for _ in 0..observations {
                observe(&mut buckets, &mut sum, &mut count, -(1.0 - rng.float()).ln() * mean);
            }
            // One scrape: all of a histogram's series share the timestamp.
            let t = time(&mut rng, k);
            for b in 0..7 {
                bucket_samples[b].push((t, buckets[b]));
            }
            sum_samples.push((t, sum));
            count_samples.push((t, count));
        }
        for (b, samples) in bucket_samples.into_iter().enumerate() {
            out.push(Series {
                labels: labels(&[
                    ("__name__", "request_duration_seconds_bucket"),
                    ("job", job),
                    ("instance", instance),
                    ("le", BOUNDS[b].1),
                ]),
                samples,
            });
        }
        for (name, samples) in
            [("request_duration_seconds_sum", sum_samples), ("request_duration_seconds_count", count_samples)]
        {
            out.push(Series {
                labels: labels(&[("__name__", name), ("job", job), ("instance", instance)]),
                samples,
            });
        }
    }

    for (j, &target) in [0usize, 3, 5].iter().enumerate() {
        let (job, instance) = TARGETS[target];
        let samples = (0..STEPS)
            .filter(|k| k % 28 == (j as i64 * 9) % 28)
            .map(|k| (time(&mut rng, k), 100.0 + 10.0 * j as f64 + 5.0 * rng.float()))
            .collect();
        out.push(Series {
            labels: labels(&[("__name__", "sparse_gauge"), ("job", job), ("instance", instance)]),
            samples,
        });
    }

    for how in ["marker", "silent", "gap"] {
        let mut samples = Vec::new();
        for k in 0..STEPS {
            let t = time(&mut rng, k);
            let v = 50.0 + 0.1 * k as f64 + rng.float();
            let sample = match (how, k) {
                ("marker", 0..=200) | ("silent", 0..=140) | ("gap", 0..=100) | ("gap", 150..) => Some(v),
                ("marker", 201) | ("gap", 101) => Some(stale),
                _ => None,
            };
            if let Some(v) = sample {
                samples.push((t, v));
            }
        }
        out.push(Series {
            labels: labels(&[
                ("__name__", "stopping_gauge"),
                ("job", "batch"),
                ("instance", "host-3:9100"),
                ("how", how),
            ]),
            samples,
        });
    }

    for kind in ["nan", "inf", "mixed", "zeros"] {
        let samples = (0..STEPS)
            .map(|k| {
                let t = time(&mut rng, k);
                let normal = 5.0 + 10.0 * rng.float();
                let v = match kind {
                    "nan" if k % 10 == 3 => f64::NAN,
                    "inf" if (50..=60).contains(&k) || (300..=305).contains(&k) => f64::INFINITY,
                    "inf" if (200..=203).contains(&k) => f64::NEG_INFINITY,
                    "mixed" => [normal, f64::NAN, f64::INFINITY, f64::NEG_INFINITY][(k % 4) as usize],
                    "zeros" => (k % 7) as f64 - 3.0,
                    _ => normal,
                };
                (t, v)
            })
            .collect();
        out.push(Series {
            labels: labels(&[
                ("__name__", "special_values"),
                ("job", "api"),
                ("instance", "host-1:9100"),
                ("kind", kind),
            ]),
            samples,
        });
    }

    for (i, &(job, instance)) in TARGETS.iter().enumerate() {
        let version = match job {
            "api" => "1.2.3",
            "web" => "2.0.0",
            _ => "0.9.1",
        };
        let mut info = Vec::new();
        let mut up = Vec::new();
        for k in 0..STEPS {
            let t = time(&mut rng, k);
            info.push((t, 1.0));
            let down = (i == 5 && (100..=130).contains(&k)) || (i == 4 && (250..=255).contains(&k));
            up.push((t, if down { 0.0 } else { 1.0 }));
        }
        out.push(Series {
            labels: labels(&[
                ("__name__", "build_info"),
                ("job", job),
                ("instance", instance),
                ("version", version),
            ]),
            samples: info,
        });
        out.push(Series {
            labels: labels(&[("__name__", "up"), ("job", job), ("instance", instance)]),
            samples: up,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Asking and comparing.

enum Answer {
    Success { result_type: String, result: Value },
    Failure { status: u16, error_type: String, error: String },
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn ask(client: &Client, url: &str, params: &[(&str, String)]) -> Answer {
    let response = match client.post(url).form(params).send() {
        Ok(response) => response,
        Err(e) => return Answer::Failure { status: 0, error_type: "transport".into(), error: e.to_string() },
    };
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let body: Value = match serde_json::from_str(&text) {
        Ok(body) => body,
        Err(_) => return Answer::Failure { status, error_type: "not JSON".into(), error: text },
    };
    if body["status"] == "success" {
        Answer::Success {
            result_type: body["data"]["resultType"].as_str().unwrap_or_default().to_string(),
            result: body["data"]["result"].clone(),
        }
    } else {
        Answer::Failure {
            status,
            error_type: body["errorType"].as_str().unwrap_or_default().to_string(),
            error: body["error"].as_str().unwrap_or_default().to_string(),
        }
    }
}

fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Success { result_type, result } => {
            let text = result.to_string();
            let text = if text.len() > 300 { format!("{}…", &text[..300]) } else { text };
            format!("{result_type} {text}")
        }
        Answer::Failure { status, error_type, error } => format!("error {status} {error_type}: {error}"),
    }
}

/// The differences between Argus's answer and Prometheus's, one line each; empty when equal.
fn compare(ours: &Answer, theirs: &Answer, ordered: bool) -> Vec<String> {
    match (ours, theirs) {
        (
            Answer::Failure { status: s1, error_type: e1, .. },
            Answer::Failure { status: s2, error_type: e2, .. },
        ) => {
            if e1 == e2 && s1 == s2 {
                vec![]
            } else {
                vec![format!(
                    "both fail, differently: argus {} | prometheus {}",
                    describe(ours),
                    describe(theirs)
                )]
            }
        }
        (
            Answer::Success { result_type: t1, result: r1 },
            Answer::Success { result_type: t2, result: r2 },
        ) => {
            if t1 != t2 {
                return vec![format!(
                    "result type: argus {} | prometheus {}",
                    describe(ours),
                    describe(theirs)
                )];
            }
            match t1.as_str() {
                "scalar" => compare_points(&point(r1), &point(r2), "scalar"),
                "string" => {
                    if r1 == r2 {
                        vec![]
                    } else {
                        vec![format!("string: argus {r1} | prometheus {r2}")]
                    }
                }
                "vector" => compare_vectors(r1, r2, ordered),
                "matrix" => compare_matrices(r1, r2),
                other => vec![format!("unknown result type {other}")],
            }
        }
        _ => vec![format!("argus {} | prometheus {}", describe(ours), describe(theirs))],
    }
}

fn metric_key(metric: &Value) -> String {
    let labels: BTreeMap<&str, &str> = metric
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("?"))).collect())
        .unwrap_or_default();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn value(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") | Some("Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(text) => text.parse().unwrap_or(f64::NAN),
        None => v.as_f64().unwrap_or(f64::NAN),
    }
}

/// `[time, "value"]` → (time in ms, value).
fn point(p: &Value) -> (i64, f64) {
    let t = p[0].as_f64().map(|s| (s * 1000.0).round() as i64).unwrap_or(i64::MIN);
    (t, value(&p[1]))
}

fn same(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= ABSOLUTE_TOLERANCE || diff <= RELATIVE_TOLERANCE * a.abs().max(b.abs())
}

fn compare_points(a: &(i64, f64), b: &(i64, f64), what: &str) -> Vec<String> {
    if a.0 == b.0 && same(a.1, b.1) {
        vec![]
    } else {
        vec![format!("{what}: argus {} @ {} | prometheus {} @ {}", a.1, seconds(a.0), b.1, seconds(b.0))]
    }
}

fn compare_vectors(ours: &Value, theirs: &Value, ordered: bool) -> Vec<String> {
    let collect = |v: &Value| -> Vec<(String, (i64, f64))> {
        v.as_array().into_iter().flatten().map(|s| (metric_key(&s["metric"]), point(&s["value"]))).collect()
    };
    let (a, b) = (collect(ours), collect(theirs));
    let mut differences = Vec::new();
    let map_a: BTreeMap<&String, &(i64, f64)> = a.iter().map(|(k, p)| (k, p)).collect();
    let map_b: BTreeMap<&String, &(i64, f64)> = b.iter().map(|(k, p)| (k, p)).collect();
    if map_a.len() != a.len() {
        differences.push(format!(
            "argus returned duplicate label sets ({} samples, {} distinct)",
            a.len(),
            map_a.len()
        ));
    }
    for (key, p) in &map_a {
        match map_b.get(key) {
            None => differences.push(format!("only argus: {key} = {} @ {}", p.1, seconds(p.0))),
            Some(q) => differences.extend(compare_points(p, q, key)),
        }
    }
    for (key, q) in &map_b {
        if !map_a.contains_key(key) {
            differences.push(format!("only prometheus: {key} = {} @ {}", q.1, seconds(q.0)));
        }
    }
    if ordered && differences.is_empty() {
        // Equal values may come in any order; the sequence of values may not.
        let in_order = a.len() == b.len() && a.iter().zip(&b).all(|((_, p), (_, q))| same(p.1, q.1));
        if !in_order {
            let show = |v: &[(String, (i64, f64))]| {
                v.iter().map(|(_, p)| p.1.to_string()).collect::<Vec<_>>().join(", ")
            };
            differences.push(format!("order: argus [{}] | prometheus [{}]", show(&a), show(&b)));
        }
    }
    differences
}

fn compare_matrices(ours: &Value, theirs: &Value) -> Vec<String> {
    let collect = |v: &Value| -> BTreeMap<String, BTreeMap<i64, f64>> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let points = s["values"].as_array().into_iter().flatten().map(point).collect();
                (metric_key(&s["metric"]), points)
            })
            .collect()
    };
    let (a, b) = (collect(ours), collect(theirs));
    let mut differences = Vec::new();
    for (key, points) in &a {
        let Some(other) = b.get(key) else {
            differences.push(format!(
                "only argus: {key} ({} points, first {:?})",
                points.len(),
                points.iter().next()
            ));
            continue;
        };
        for (t, v) in points {
            match other.get(t) {
                None => differences.push(format!("{key} @ {}: argus {v} | prometheus none", seconds(*t))),
                Some(w) if !same(*v, *w) => {
                    differences.push(format!("{key} @ {}: argus {v} | prometheus {w}", seconds(*t)))
                }
                Some(_) => {}
            }
        }
        for (t, w) in other {
            if !points.contains_key(t) {
                differences.push(format!("{key} @ {}: argus none | prometheus {w}", seconds(*t)));
            }
        }
    }
    for (key, points) in &b {
        if !a.contains_key(key) {
            differences.push(format!(
                "only prometheus: {key} ({} points, first {:?})",
                points.len(),
                points.iter().next()
            ));
        }
    }
    differences
}
