#!/usr/bin/env bash
# Side-by-side benchmark of Argus, VictoriaMetrics (single node) and Prometheus on this machine.
#
# For every repeat and every system in turn: a fresh data directory, the server on a free
# loopback port, then the same `argus bench` phases against it (write, verify, query) and the
# measurements around them (RSS, CPU, bytes on disk after the system persisted its data).
# Finally one markdown table with the median over repeats and the ratios Argus/VM, Argus/Prom.
# What each figure means and how disk usage is measured per system: docs/benchmarks.md.
#
# Installs nothing: missing tools are named with the apt-get command that provides them.

set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/compare.sh [options]

Workload (passed to `argus bench`):
  --series N               series in the workload              (BENCH_SERIES, 100000)
  --samples-per-series M   samples per series                  (BENCH_SAMPLES_PER_SERIES, 240)
  --interval D             time between samples, e.g. 15s      (BENCH_INTERVAL, 15s)
  --concurrency C          concurrent remote-write senders     (BENCH_CONCURRENCY, 8)
  --batch B                samples per write request           (BENCH_BATCH, 5000)
  --seed S                 workload seed                       (BENCH_SEED, 1)
  --end UNIX_SECONDS       end of the data, shared by all runs (BENCH_END, now - 2m rounded
                           down to the interval)
  --queries FILE           query file                          (BENCH_QUERIES, bench/queries.yaml)
  --query-repeat R         runs of each query per system, at least (BENCH_QUERY_REPEAT, 5)
  --query-seconds S        seconds each query runs for, at least (BENCH_QUERY_SECONDS, 1);
                           quick queries then run up to 2000 times

Run:
  --repeats R              times the whole sequence is run     (BENCH_REPEATS, 2)
  --systems LIST           comma list of argus,vm,prometheus   (BENCH_SYSTEMS, all three)
  --out FILE               markdown result file                (BENCH_OUT, WORK_DIR/results.md)
  --work-dir DIR           logs, JSON reports, data dirs       (BENCH_WORK_DIR, a new /tmp dir)
  --keep-data              keep each system's data directory (default: deleted after measuring)
  --report DIR             only print the table again from an earlier run's work directory
  -h, --help               this text

ARGUS_BIN=/path/to/argus uses that binary instead of target/release/argus.
EOF
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

series=${BENCH_SERIES:-100000}
samples_per_series=${BENCH_SAMPLES_PER_SERIES:-240}
interval=${BENCH_INTERVAL:-15s}
concurrency=${BENCH_CONCURRENCY:-8}
batch=${BENCH_BATCH:-5000}
seed=${BENCH_SEED:-1}
end=${BENCH_END:-}
queries=${BENCH_QUERIES:-$repo/bench/queries.yaml}
query_repeat=${BENCH_QUERY_REPEAT:-5}
query_seconds=${BENCH_QUERY_SECONDS:-1}
repeats=${BENCH_REPEATS:-2}
systems=${BENCH_SYSTEMS:-argus,vm,prometheus}
out=${BENCH_OUT:-}
work_dir=${BENCH_WORK_DIR:-}
keep_data=${BENCH_KEEP_DATA:-0}
report_dir=

die() { echo "compare.sh: $*" >&2; exit 1; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --series) need_value "$@"; series=$2; shift 2 ;;
        --samples-per-series) need_value "$@"; samples_per_series=$2; shift 2 ;;
        --interval) need_value "$@"; interval=$2; shift 2 ;;
        --concurrency) need_value "$@"; concurrency=$2; shift 2 ;;
        --batch) need_value "$@"; batch=$2; shift 2 ;;
        --seed) need_value "$@"; seed=$2; shift 2 ;;
        --end) need_value "$@"; end=$2; shift 2 ;;
        --queries) need_value "$@"; queries=$2; shift 2 ;;
        --query-repeat) need_value "$@"; query_repeat=$2; shift 2 ;;
        --query-seconds) need_value "$@"; query_seconds=$2; shift 2 ;;
        --repeats) need_value "$@"; repeats=$2; shift 2 ;;
        --systems) need_value "$@"; systems=$2; shift 2 ;;
        --out) need_value "$@"; out=$2; shift 2 ;;
        --work-dir) need_value "$@"; work_dir=$2; shift 2 ;;
        --keep-data) keep_data=1; shift ;;
        --report) need_value "$@"; report_dir=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

for n in series samples_per_series concurrency batch seed query_repeat repeats; do
    [[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 || ($n == seed && ${!n} =~ ^[0-9]+$) ]] ||
        die "--${n//_/-} must be a positive integer, not '${!n}'"
done
[[ $query_seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--query-seconds must be a number of seconds, not '$query_seconds'"
[[ -f $queries ]] || die "query file not found: $queries"
queries=$(cd "$(dirname "$queries")" && pwd)/$(basename "$queries")

# Canonical system names, in the order given.
selected=()
IFS=, read -ra requested <<<"$systems"
has() { local s; for s in "${selected[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }
for s in "${requested[@]}"; do
    case ${s,,} in
        argus) name=argus ;;
        vm | victoriametrics | victoria-metrics) name=vm ;;
        prom | prometheus) name=prometheus ;;
        '') continue ;;
        *) die "unknown system '$s' (choose from argus, vm, prometheus)" ;;
    esac
    has "$name" || selected+=("$name")
done
[[ ${#selected[@]} -gt 0 ]] || die "--systems selects nothing"

# --- the table (defined here so --report can use it without running anything) -----------------

# Reads WORK_DIR/{params,meta}.env and rN/SYSTEM/*.json; writes the markdown to $out and stdout.
render_table() {
python3 - "$work_dir" "$out" <<'PYTHON'
import datetime, json, math, os, re, statistics, sys

work, out = sys.argv[1:3]
NAMES = {"argus": "Argus", "vm": "VictoriaMetrics", "prometheus": "Prometheus"}

meta = {}
for name in ("params.env", "meta.env"):
    with open(os.path.join(work, name)) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
repeats, series = int(meta["repeats"]), int(meta["series"])
samples_per_series, total_samples = meta["samples_per_series"], int(meta["total_samples"])
interval, concurrency, batch, seed = meta["interval"], meta["concurrency"], meta["batch"], meta["seed"]
end, query_repeat, systems = meta["end"], meta["query_repeat"], meta["systems"].split(",")
query_seconds = meta.get("query_seconds", "0")
prom_config = os.path.join(work, "prometheus.yml")

def load(rep, sys_, name):
    try:
        with open(os.path.join(work, f"r{rep}", sys_, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

runs = {s: [] for s in systems}
for rep in range(1, repeats + 1):
    for s in systems:
        run = {n: load(rep, s, n + ".json") for n in ("write", "verify", "query", "measure")}
        run["dir"] = os.path.join(work, f"r{rep}", s)
        runs[s].append(run)

def last_error(dir_, log):
    """The `Error: …` line a failed `argus bench` phase printed, shortened."""
    try:
        with open(os.path.join(dir_, log)) as f:
            lines = [l.strip() for l in f if l.startswith("Error:")]
    except OSError:
        return "no log"
    if not lines:
        return "see " + log
    message = re.sub(r"https?://127\.0\.0\.1:\d+", "", lines[-1][len("Error:"):].strip())
    return "`" + (message[:150] + "…" if len(message) > 150 else message).replace("|", "\\|") + "`"

def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None

def write_ok(run):
    w = run["write"]
    return w is not None and not w.get("errors")

# Each row: label, extractor(run) -> number or None, formatter, whether a ratio makes sense.
def per_sample(key):
    def f(run):
        m, w = run["measure"], run["write"]
        b = num((m or {}).get(key))
        n = num((w or {}).get("samples"))
        return b / n if b is not None and n else None
    return f

def rss_mib(key):
    return lambda run: (num((run["measure"] or {}).get(key)) or 0) / 2**20 or None

def rss_per_series(run):
    b = num((run["measure"] or {}).get("rss_after_ingest_bytes"))
    return b / series if b is not None else None

def rss_growth_per_series(run):
    m = run["measure"] or {}
    a, b = num(m.get("rss_idle_bytes")), num(m.get("rss_after_ingest_bytes"))
    return (b - a) / series if a is not None and b is not None else None

def cpu_per_million(run):
    c = num((run["measure"] or {}).get("server_cpu_ingest_seconds"))
    n = num((run["write"] or {}).get("samples"))
    return c / n * 1e6 if c is not None and n else None

def fmt_int(v): return f"{v:,.0f}"
def fmt_2(v): return f"{v:,.2f}"
def fmt_1(v): return f"{v:,.1f}"
def fmt_ms(v): return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"

rows = [
    ("Ingest, samples/s (higher is better)",
     lambda r: num((r["write"] or {}).get("samples_per_second")) or None, fmt_int),
    ("Write latency p99, ms",
     lambda r: num(((r["write"] or {}).get("latency_ms") or {}).get("p99")), fmt_ms),
    ("Server CPU during ingest, s per million samples",
     cpu_per_million, fmt_2),
    ("Bytes on disk per sample, right after ingest", per_sample("disk_after_ingest_bytes"), fmt_2),
    ("Bytes on disk per sample, persisted", per_sample("disk_persisted_bytes"), fmt_2),
    ("RSS after ingest, MiB", rss_mib("rss_after_ingest_bytes"), fmt_1),
    ("RSS per active series, bytes", rss_per_series, fmt_int),
    ("RSS growth during ingest per series, bytes", rss_growth_per_series, fmt_int),
    ("Peak RSS over the run, MiB", rss_mib("rss_peak_bytes"), fmt_1),
]

query_names, query_text = [], {}
for s in systems:
    for run in runs[s]:
        for q in (run["query"] or {}).get("queries", []):
            if q["name"] not in query_text:
                query_names.append(q["name"])
                query_text[q["name"]] = q
for name in query_names:
    def extract(run, name=name):
        for q in (run["query"] or {}).get("queries", []):
            if q["name"] == name and not q.get("error"):
                return num(q.get("median_ms"))
        return None
    rows.append((f"Query `{name}` ({query_text[name]['kind']}), median ms", extract, fmt_ms))

def aggregate(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)

def cell(values, fmt):
    med, lo, hi = aggregate(values)
    if med is None:
        return "n/a", None
    text = fmt(med)
    if len([v for v in values if v is not None]) > 1:
        text += f" ({fmt(lo)}–{fmt(hi)})"
    missing = sum(v is None for v in values)
    if missing:
        text += f" [{missing} of {len(values)} runs n/a]"
    return text, med

def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"

def status_cells():
    """Did every run ingest everything and find it again?"""
    out = []
    for s in systems:
        parts = []
        for run in runs[s]:
            w, v, m = run["write"], run["verify"], run["measure"] or {}
            if not m.get("started", False):
                parts.append("did not start")
            elif not m.get("survived", True):
                parts.append("server exited during the run")
            elif w is None:
                parts.append("write failed: " + last_error(run["dir"], "write.log"))
            elif w.get("errors"):
                parts.append("write errors " + ", ".join(f"{k}×{c}" for k, c in w["errors"].items()))
            elif v is None:
                parts.append("verify failed: " + last_error(run["dir"], "verify.log"))
            elif not v.get("ok"):
                parts.append(f"MISMATCH: {v.get('found_samples')} of {v.get('expected_samples')} samples, "
                             f"{v.get('found_series')} of {v.get('expected_series')} series")
            else:
                parts.append("ok")
        out.append("; ".join(parts) if len(set(parts)) > 1 else parts[0] + (f" (all {len(parts)})" if len(parts) > 1 else ""))
    return out

order = [s for s in ("argus", "vm", "prometheus") if s in systems]
header = [NAMES[s] for s in order]
ratio_cols = [(f"Argus/{'VM' if s == 'vm' else 'Prom'}", s) for s in ("vm", "prometheus")
              if "argus" in systems and s in systems]
lines = []
lines.append("| Figure | " + " | ".join(header + [c for c, _ in ratio_cols]) + " |")
lines.append("|---|" + "---:|" * (len(header) + len(ratio_cols)))
verdicts = dict(zip(systems, status_cells()))
lines.append("| All samples acknowledged and found again | " +
             " | ".join([verdicts[s] for s in order] + ["" for _ in ratio_cols]) + " |")
for label, extract, fmt in rows:
    cells, medians = [], {}
    for s in order:
        text, med = cell([extract(r) for r in runs[s]], fmt)
        cells.append(text)
        medians[s] = med
    cells += [ratio(medians.get("argus"), medians.get(s)) for _, s in ratio_cols]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")

# Result sizes, so a reader can see the systems answered the same question.
size_lines = []
if query_names:
    size_lines.append("| Query | " + " | ".join(header) + " |")
    size_lines.append("|---|" + "---:|" * len(header))
    for name in query_names:
        cells = []
        for s in order:
            q = next((q for q in ((runs[s][0]["query"] or {}).get("queries", [])) if q["name"] == name), None)
            cells.append("n/a" if q is None or q.get("error") else f"{q['series']} / {q['points']}")
        size_lines.append(f"| `{name}` | " + " | ".join(cells) + " |")

errors = []
for s in order:
    seen = {}
    for run in runs[s]:
        for q in (run["query"] or {}).get("queries", []):
            if q.get("error"):
                # One line per kind of error: drop the URL (its port changes every run).
                message = re.sub(r"\s*for url \([^)]*\)", "", q["error"])
                message = re.sub(r"https?://127\.0\.0\.1:\d+", "", message)
                seen.setdefault(message[:160], []).append(q["name"])
    for message, names in seen.items():
        names = sorted(set(names))
        what = "every query" if len(names) == len(query_names) else ", ".join(f"`{n}`" for n in names)
        errors.append(f"- {NAMES[s]}: {what} failed: `{message}`")

def command(s):
    try:
        with open(os.path.join(work, "r1", s, "command.txt")) as f:
            return f.read().strip()
    except OSError:
        return "(not started)"

persist = {
    "argus": "`POST /api/v1/admin/tsdb/flush` (writes the whole head as blocks and checkpoints the "
             "WAL), then `du -sb` of the data directory (blocks and what is left of the WAL). Queries "
             "then run over blocks.",
    "vm": "`GET /internal/force_flush`, then `GET /internal/force_merge` and wait until its log says "
          "the merge finished, then `du -sb` of `-storageDataPath` (data and indexdb).",
    "prometheus": "`POST /api/v1/admin/tsdb/snapshot` (writes the in-memory head as a block), then "
                  "`du -sb` of that snapshot directory. The WAL is not counted.",
}

doc = []
doc.append(f"Date: {meta.get('date')}  ")
doc.append(f"Machine: {meta.get('machine')}  ")
doc.append(f"Disk: {meta.get('disk')}  ")
for s in order:
    doc.append(f"{NAMES[s]}: {meta.get('version_' + s)}  ")
doc.append(f"Workload: {series:,} series × {int(samples_per_series):,} samples every {interval} = "
           f"{total_samples:,} samples, seed {seed}, ending at {end} "
           f"({datetime.datetime.fromtimestamp(float(end), datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC); "
           f"{concurrency} concurrent writers, "
           f"{batch} samples per request; each query run at least {query_repeat} times and for at least "
           f"{query_seconds} s (at most 2000 times).  ")
doc.append(f"Repeats: {repeats}" + (" — each cell is the median over repeats, (min–max) in parentheses."
                                    if repeats > 1 else "."))
doc.append("")
doc.extend(lines)
doc.append("")
doc.append("Ratios are Argus ÷ the other system's median: above 1 means Argus has more of that figure "
           "(better for samples/s, worse for everything else). \"n/a\": the figure is missing for a system "
           "(e.g. a query it cannot answer).")
doc.append("")
doc.append("Bytes on disk after persisting, per system:")
for s in order:
    doc.append(f"- {NAMES[s]}: {persist[s]}")
if errors:
    doc.append("")
    doc.append("Query errors:")
    doc.extend(errors)
if size_lines:
    doc.append("")
    doc.append("Query result sizes, series / points (first repeat):")
    doc.append("")
    doc.extend(size_lines)
doc.append("")
doc.append("Configuration (first repeat; ports and paths change per run):")
doc.append("")
for s in order:
    doc.append(f"- {NAMES[s]}: `{command(s)}`")
if "prometheus" in order:
    with open(prom_config) as f:
        doc.append("")
        doc.append("Prometheus configuration file:")
        doc.append("")
        doc.append("```yaml")
        doc.append(f.read().rstrip())
        doc.append("```")
text = "\n".join(doc) + "\n"
with open(out, "w") as f:
    f.write(text)
print()
print(text)
print(f"(written to {out}; logs and JSON reports in {work})")
PYTHON
}

if [[ -n $report_dir ]]; then
    [[ -f $report_dir/params.env ]] || die "$report_dir is not a compare.sh work directory (no params.env)"
    command -v python3 >/dev/null 2>&1 || die "python3 is missing: sudo apt-get install python3"
    work_dir=$(cd "$report_dir" && pwd)
    out=${out:-$work_dir/results.md}
    render_table
    exit 0
fi

# --- tools -------------------------------------------------------------------------------------

missing=()
need_tool() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_tool curl curl
need_tool python3 python3
need_tool du coreutils
has prometheus && need_tool prometheus prometheus
has vm && need_tool victoria-metrics victoria-metrics
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "compare.sh: missing tools. Install them with:" >&2
    echo "    sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

argus_bin=${ARGUS_BIN:-$repo/target/release/argus}
if [[ ! -x $argus_bin ]]; then
    [[ -z ${ARGUS_BIN:-} ]] || die "ARGUS_BIN=$ARGUS_BIN is not an executable"
    command -v cargo >/dev/null 2>&1 || die "no $argus_bin and no cargo to build it (see https://rustup.rs)"
    echo "compare.sh: $argus_bin is missing; building it with: cargo build --release -p argus"
    (cd "$repo" && cargo build --release -p argus)
fi
"$argus_bin" bench --help >/dev/null 2>&1 ||
    die "$argus_bin has no 'bench' subcommand; rebuild it: cargo build --release -p argus"

# --- run parameters ----------------------------------------------------------------------------

interval_seconds=$(python3 - "$interval" <<'EOF'
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", sys.argv[1].strip())
if not m:
    sys.exit("compare.sh: --interval must look like 15s, 500ms, 1m or 1h")
print(float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)])
EOF
)
if [[ -z $end ]]; then
    # Two minutes in the past: VictoriaMetrics hides the newest 30 s from queries
    # (-search.latencyOffset) and every system must see the same, complete data.
    end=$(python3 -c "import math, time; i = $interval_seconds; print(int(math.floor((time.time() - 120) / i) * i))")
fi
[[ $end =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--end must be Unix seconds, not '$end'"

if [[ -z $work_dir ]]; then
    work_dir=$(mktemp -d "${TMPDIR:-/tmp}/argus-bench.XXXXXX")
else
    mkdir -p "$work_dir"
    work_dir=$(cd "$work_dir" && pwd)
fi
out=${out:-$work_dir/results.md}

workload_args=(--series "$series" --samples-per-series "$samples_per_series" --interval "$interval"
    --seed "$seed" --end "$end")
total_samples=$((series * samples_per_series))
# VictoriaMetrics's memory guards, raised only where they would cut the workload short
# (its defaults: 30 000 series from /api/v1/series, 300 000 series per query).
vm_max_series=$((series * 2 > 30000 ? series * 2 : 30000))
vm_max_unique=$((series * 2 > 300000 ? series * 2 : 300000))

# --- process bookkeeping -----------------------------------------------------------------------

server_pid=
client_pid=

stop_process() { # pid: SIGTERM, up to 60 s to exit, then SIGKILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "compare.sh: process $pid ignored SIGTERM for 60 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $client_pid ]] && stop_process "$client_pid"
    [[ -n $server_pid ]] && stop_process "$server_pid"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs an `argus bench` phase in the background (so the traps can stop it), logs to $1.
# Prints the log afterwards; returns the client's exit code.
run_client() {
    local log=$1 rc=0
    shift
    # No Rust backtraces in the logs: a failed phase is reported by its message.
    env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$argus_bin" bench "$@" >"$log" 2>&1 &
    client_pid=$!
    wait "$client_pid" || rc=$?
    client_pid=
    sed 's/^/    /' "$log"
    return "$rc"
}

proc_field_kib() { # pid field: a kB line of /proc/PID/status, in bytes
    awk -v f="$2:" '$1 == f { print $2 * 1024 }' "/proc/$1/status" 2>/dev/null || true
}

proc_cpu_seconds() { # pid: user + system CPU seconds of the whole process; empty if it is gone
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' <<<"$stat"
}

disk_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

wait_ready() { # pid url path log
    local i
    for ((i = 0; i < 1200; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            echo "compare.sh: the server exited before it was ready; its log ($4) ends with:" >&2
            tail -n 20 "$4" >&2
            return 1
        fi
        curl -fsS -o /dev/null "$2$3" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "compare.sh: $2$3 not ready after 120 s; see $4" >&2
    return 1
}

# Waits for VictoriaMetrics's background force merge to log its end (it has no synchronous form).
wait_vm_force_merge() { # log offset
    local i
    for ((i = 0; i < 36000; i++)); do
        if tail -c +"$(($2 + 1))" "$1" | grep -q 'forced merge for partition_prefix="" has been successfully finished'; then
            return 0
        fi
        if tail -c +"$(($2 + 1))" "$1" | grep -q 'error in forced merge'; then
            echo "compare.sh: VictoriaMetrics's force merge failed; see $1" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "compare.sh: VictoriaMetrics's force merge did not finish in an hour" >&2
    return 1
}

json_or_null() { [[ -n ${1:-} ]] && echo "$1" || echo null; }

prometheus_config=$work_dir/prometheus.yml
cat >"$prometheus_config" <<'EOF'
# compare.sh: no scrape jobs; every sample arrives through the remote-write receiver.
global:
  scrape_interval: 15s
EOF

# --- one system, one repeat --------------------------------------------------------------------

run_system() { # repeat system
    local rep=$1 sys=$2
    local dir=$work_dir/r$rep/$sys
    local data=$dir/data log=$dir/server.log
    local port url ready_path persist_method
    local rss_idle rss_ingest rss_peak disk_ingest disk_persisted cpu0 cpu1 cpu_ingest
    local write_rc=0 verify_rc=0 query_rc=0 started=1
    mkdir -p "$data"
    port=$(free_port)
    url=http://127.0.0.1:$port
    local -a cmd
    case $sys in
        argus)
            cmd=("$argus_bin" server --listen "127.0.0.1:$port" --data-dir "$data" --enable-admin-api)
            ready_path=/-/ready
            persist_method="POST /api/v1/admin/tsdb/flush (head written as blocks), du -sb of the data dir"
            ;;
        vm)
            cmd=(victoria-metrics -storageDataPath="$data" -httpListenAddr="127.0.0.1:$port"
                -retentionPeriod=100y -search.disableCache
                -search.maxSeries="$vm_max_series" -search.maxUniqueTimeseries="$vm_max_unique"
                -search.maxQueryDuration=2m)
            ready_path=/health
            persist_method="GET /internal/force_flush, GET /internal/force_merge (waited for), du -sb of the data dir"
            ;;
        prometheus)
            cmd=(prometheus --config.file="$prometheus_config" --storage.tsdb.path="$data"
                --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver
                --web.enable-admin-api)
            ready_path=/-/ready
            persist_method="POST /api/v1/admin/tsdb/snapshot (head written as a block), du -sb of the snapshot"
            ;;
    esac
    printf '%q ' "${cmd[@]}" | sed 's/ $//' >"$dir/command.txt"
    echo
    echo "=== repeat $rep/$repeats: $sys on $url"
    echo "    $(cat "$dir/command.txt")"

    "${cmd[@]}" >"$log" 2>&1 &
    server_pid=$!
    if ! wait_ready "$server_pid" "$url" "$ready_path" "$log"; then
        started=0
    fi

    if [[ $started == 1 ]]; then
        rss_idle=$(proc_field_kib "$server_pid" VmRSS)
        cpu0=$(proc_cpu_seconds "$server_pid")
        echo "--- write"
        run_client "$dir/write.log" write --url "$url" "${workload_args[@]}" \
            --batch "$batch" --concurrency "$concurrency" --json "$dir/write.json" || write_rc=$?
        cpu1=$(proc_cpu_seconds "$server_pid")
        if [[ -n $cpu0 && -n $cpu1 ]]; then
            cpu_ingest=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
        fi
        rss_ingest=$(proc_field_kib "$server_pid" VmRSS)
        disk_ingest=$(disk_bytes "$data")

        # VictoriaMetrics buffers recent rows in memory for about a second before they are
        # searchable; force_flush makes all of them visible before counting.
        if [[ $sys == vm ]]; then
            curl -fsS -o /dev/null "$url/internal/force_flush" ||
                echo "compare.sh: /internal/force_flush failed" >&2
        fi
        echo "--- verify"
        run_client "$dir/verify.log" verify --url "$url" "${workload_args[@]}" \
            --json "$dir/verify.json" || verify_rc=$?

        echo "--- persist and measure disk"
        case $sys in
            argus)
                if curl -fsS -o /dev/null -X POST "$url/api/v1/admin/tsdb/flush"; then
                    disk_persisted=$(disk_bytes "$data")
                else
                    echo "compare.sh: the flush failed" >&2
                fi
                ;;
            vm)
                local offset code
                offset=$(stat -c %s "$log")
                curl -fsS -o /dev/null "$url/internal/force_flush" || true
                code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/internal/force_merge" || true)
                if [[ $code == 200 ]]; then
                    wait_vm_force_merge "$log" "$offset" || true
                else
                    persist_method="GET /internal/force_flush (no /internal/force_merge: HTTP $code), du -sb of the data dir"
                fi
                disk_persisted=$(disk_bytes "$data")
                ;;
            prometheus)
                local answer name
                if answer=$(curl -fsS -X POST "$url/api/v1/admin/tsdb/snapshot") &&
                    name=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["name"])' <<<"$answer") &&
                    [[ -n $name && -d $data/snapshots/$name ]]; then
                    disk_persisted=$(disk_bytes "$data/snapshots/$name")
                else
                    echo "compare.sh: the snapshot failed: $answer" >&2
                fi
                ;;
        esac
        echo "    $persist_method: ${disk_persisted:-failed} bytes"

        echo "--- query"
        run_client "$dir/query.log" query --url "$url" --queries "$queries" \
            --repeat "$query_repeat" --min-seconds "$query_seconds" --end "$end" --json "$dir/query.json" ||
            query_rc=$?
        rss_peak=$(proc_field_kib "$server_pid" VmHWM)
    fi

    local survived=true
    if [[ $started == 1 ]] && ! kill -0 "$server_pid" 2>/dev/null; then
        survived=false
        echo "compare.sh: $sys exited during the run; its log ($log) ends with:" >&2
        tail -n 10 "$log" >&2
    fi

    stop_process "$server_pid"
    server_pid=
    cat >"$dir/measure.json" <<EOF
{"system": "$sys", "repeat": $rep, "started": $([[ $started == 1 ]] && echo true || echo false), "survived": $survived,
 "rss_idle_bytes": $(json_or_null "${rss_idle:-}"), "rss_after_ingest_bytes": $(json_or_null "${rss_ingest:-}"),
 "rss_peak_bytes": $(json_or_null "${rss_peak:-}"),
 "disk_after_ingest_bytes": $(json_or_null "${disk_ingest:-}"),
 "disk_persisted_bytes": $(json_or_null "${disk_persisted:-}"),
 "server_cpu_ingest_seconds": $(json_or_null "${cpu_ingest:-}"),
 "persist_method": "$persist_method",
 "write_rc": $write_rc, "verify_rc": $verify_rc, "query_rc": $query_rc}
EOF
    if [[ $keep_data != 1 ]]; then
        rm -rf "$data"
    fi
    # Let the next system start without this one's dirty pages still being written back.
    sync
}

# --- the run -----------------------------------------------------------------------------------

version_of() {
    case $1 in
        argus)
            local commit dirty=
            commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
            [[ -z $(git -C "$repo" status --porcelain 2>/dev/null) ]] || dirty=", uncommitted changes"
            echo "$("$argus_bin" --version 2>/dev/null | head -n1) (git $commit$dirty)" ;;
        vm)
            local v
            v=$(victoria-metrics -version 2>/dev/null | head -n1 || true)
            [[ -n $v ]] || v="victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown) (Debian package)"
            echo "$v" ;;
        prometheus) prometheus --version 2>&1 | head -n1 ;;
    esac
}

{
    echo "series=$series"
    echo "samples_per_series=$samples_per_series"
    echo "total_samples=$total_samples"
    echo "interval=$interval"
    echo "concurrency=$concurrency"
    echo "batch=$batch"
    echo "seed=$seed"
    echo "end=$end"
    echo "query_repeat=$query_repeat"
    echo "query_seconds=$query_seconds"
    echo "queries=$queries"
    echo "repeats=$repeats"
    echo "systems=$(IFS=,; echo "${selected[*]}")"
} >"$work_dir/params.env"

{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine=$(uname -srm); $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
    echo "disk=$(df -T "$work_dir" | awk 'NR == 2 { print $2 " (" $1 ")" }') at $work_dir"
    for s in "${selected[@]}"; do echo "version_$s=$(version_of "$s")"; done
} >"$work_dir/meta.env"

echo "Argus benchmark comparison"
sed 's/^/  /' "$work_dir/meta.env"
echo "  workload: $series series × $samples_per_series samples every $interval = $total_samples samples," \
    "ending at $end ($(date -u -d "@${end%.*}" '+%Y-%m-%d %H:%M:%S UTC')), seed $seed"
echo "  writers: $concurrency concurrent, $batch samples per request;" \
    "queries: $queries × at least $query_repeat, for at least $query_seconds s"
echo "  systems: ${selected[*]}, $repeats repeat(s); work dir: $work_dir"

for ((rep = 1; rep <= repeats; rep++)); do
    # Rotate the order each repeat so no system always runs first (cold page cache) or last.
    n=${#selected[@]}
    for ((k = 0; k < n; k++)); do
        run_system "$rep" "${selected[$(((k + rep - 1) % n))]}"
    done
done

# --- the table ---------------------------------------------------------------------------------


render_table
