//! The host input: this machine's CPU, memory, load, disks, filesystems and network read
//! straight from `/proc` (and `statvfs`), written as the exposition text node_exporter 1.5
//! serves for its `cpu`, `meminfo`, `loadavg`, `diskstats`, `filesystem` and `netdev`
//! collectors — same metric names, label names and default exclusions — so dashboards built
//! for node_exporter work. The agent scrapes it like any target.

use std::fmt::Write;
use std::path::Path;

/// Clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;
/// node_exporter's `cpu` collector modes, in `/proc/stat` column order.
const CPU_MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
/// Devices node_exporter's `diskstats` collector leaves out by default.
const DISK_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// Mount points and filesystem types its `filesystem` collector leaves out by default.
const MOUNT_EXCLUDE: &str =
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
const FSTYPE_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

/// The `/proc/diskstats` columns node_exporter reports (column index after the device name,
/// metric name, factor to the metric's unit).
const DISK_FIELDS: [(usize, &str, f64); 17] = [
    (0, "reads_completed_total", 1.0),
    (1, "reads_merged_total", 1.0),
    (2, "read_bytes_total", 512.0),
    (3, "read_time_seconds_total", 0.001),
    (4, "writes_completed_total", 1.0),
    (5, "writes_merged_total", 1.0),
    (6, "written_bytes_total", 512.0),
    (7, "write_time_seconds_total", 0.001),
    (8, "io_now", 1.0),
    (9, "io_time_seconds_total", 0.001),
    (10, "io_time_weighted_seconds_total", 0.001),
    (11, "discards_completed_total", 1.0),
    (12, "discards_merged_total", 1.0),
    (13, "discarded_sectors_total", 1.0),
    (14, "discard_time_seconds_total", 0.001),
    (15, "flush_requests_total", 1.0),
    (16, "flush_requests_time_seconds_total", 0.001),
];

/// `/proc/net/dev` columns: receive then transmit.
const NET_RECEIVE: [&str; 8] =
    ["bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"];
const NET_TRANSMIT: [&str; 8] =
    ["bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"];

/// The host's metrics as exposition text, reading `/proc` under `proc_root` (and `sys`
/// beside it).
pub fn exposition(proc_root: &Path) -> String {
    let mut out = String::new();
    let read = |name: &str| std::fs::read_to_string(proc_root.join(name)).unwrap_or_default();
    cpu(&read("stat"), &mut out);
    meminfo(&read("meminfo"), &mut out);
    loadavg(&read("loadavg"), &mut out);
    diskstats(&read("diskstats"), &mut out);
    // The mounts of the host's first process, as node_exporter reads them (a container's own
    // mounts are not the host's).
    let mounts = std::fs::read_to_string(proc_root.join("1/mounts")).unwrap_or_else(|_| read("mounts"));
    filesystems(&mounts, &mut out);
    let sys_net = proc_root.parent().map(|root| root.join("sys/class/net"));
    netdev(&read("net/dev"), sys_net.as_deref(), &mut out);
    out
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let _ = write!(out, "{label}=\"{escaped}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn cpu(stat: &str, out: &mut String) {
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields.next().and_then(|name| name.strip_prefix("cpu")).filter(|n| !n.is_empty())
        else {
            continue;
        };
        let ticks: Vec<f64> = fields.filter_map(|f| f.parse().ok()).collect();
        for (mode, value) in CPU_MODES.iter().zip(&ticks) {
            sample(out, "node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)], value / USER_HZ);
        }
        for (mode, column) in [("user", 8), ("nice", 9)] {
            if let Some(value) = ticks.get(column) {
                sample(out, "node_cpu_guest_seconds_total", &[("cpu", cpu), ("mode", mode)], value / USER_HZ);
            }
        }
    }
}

fn meminfo(meminfo: &str, out: &mut String) {
    for line in meminfo.lines() {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        let name = name.replace('(', "_").replace(')', "");
        match parts.next() {
            Some("kB") => sample(out, &format!("node_memory_{name}_bytes"), &[], value * 1024.0),
            _ => sample(out, &format!("node_memory_{name}"), &[], value),
        }
    }
}

fn loadavg(loadavg: &str, out: &mut String) {
    let values: Vec<f64> = loadavg.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect();
    for (name, value) in ["node_load1", "node_load5", "node_load15"].iter().zip(values) {
        sample(out, name, &[], value);
    }
}

fn diskstats(diskstats: &str, out: &mut String) {
    let exclude = regex::Regex::new(DISK_EXCLUDE).expect("valid regex");
    for line in diskstats.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(&device) = fields.get(2) else { continue };
        if exclude.is_match(device) {
            continue;
        }
        let values: Vec<f64> = fields[3..].iter().filter_map(|f| f.parse().ok()).collect();
        for (column, name, factor) in DISK_FIELDS {
            if let Some(value) = values.get(column) {
                sample(out, &format!("node_disk_{name}"), &[("device", device)], value * factor);
            }
        }
    }
}

fn filesystems(mounts: &str, out: &mut String) {
    let (mount_exclude, type_exclude) = (
        regex::Regex::new(MOUNT_EXCLUDE).expect("valid regex"),
        regex::Regex::new(FSTYPE_EXCLUDE).expect("valid regex"),
    );
    let mut seen = std::collections::HashSet::new();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, mountpoint, fstype, options, ..] = fields[..] else { continue };
        let mountpoint = mountpoint.replace("\\040", " ");
        if mount_exclude.is_match(&mountpoint)
            || type_exclude.is_match(fstype)
            || !seen.insert((device, mountpoint.clone()))
        {
            continue;
        }
        let labels = [("device", device), ("fstype", fstype), ("mountpoint", mountpoint.as_str())];
        let Some(stats) = statvfs(&mountpoint) else {
            sample(out, "node_filesystem_device_error", &labels, 1.0);
            continue;
        };
        let readonly = options.split(',').any(|o| o == "ro");
        for (name, value) in [
            ("node_filesystem_size_bytes", stats.size),
            ("node_filesystem_free_bytes", stats.free),
            ("node_filesystem_avail_bytes", stats.avail),
            ("node_filesystem_files", stats.files),
            ("node_filesystem_files_free", stats.files_free),
            ("node_filesystem_readonly", if readonly { 1.0 } else { 0.0 }),
            ("node_filesystem_device_error", 0.0),
        ] {
            sample(out, name, &labels, value);
        }
    }
}

struct FsStats {
    size: f64,
    free: f64,
    avail: f64,
    files: f64,
    files_free: f64,
}

fn statvfs(path: &str) -> Option<FsStats> {
    let c_path = std::ffi::CString::new(path).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stats` points to writable memory
    // of the right type; statvfs only writes into it, and we read it only when it succeeded.
    let stats = unsafe {
        if libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    let block = stats.f_frsize as f64;
    Some(FsStats {
        size: stats.f_blocks as f64 * block,
        free: stats.f_bfree as f64 * block,
        avail: stats.f_bavail as f64 * block,
        files: stats.f_files as f64,
        files_free: stats.f_ffree as f64,
    })
}

/// `/proc/net/dev`, plus the count of packets no protocol took from `sys/class/net`, as
/// node_exporter reports it.
fn netdev(dev: &str, sys_net: Option<&Path>, out: &mut String) {
    for line in dev.lines().skip(2) {
        let Some((device, counters)) = line.split_once(':') else { continue };
        let device = device.trim();
        if device == "lo" {
            continue;
        }
        let values: Vec<f64> = counters.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let names =
            NET_RECEIVE.iter().map(|n| ("receive", n)).chain(NET_TRANSMIT.iter().map(|n| ("transmit", n)));
        for ((direction, name), value) in names.zip(values) {
            sample(out, &format!("node_network_{direction}_{name}_total"), &[("device", device)], value);
        }
        let nohandler = sys_net
            .and_then(|sys| std::fs::read_to_string(sys.join(device).join("statistics/rx_nohandler")).ok());
        if let Some(value) = nohandler.and_then(|v| v.trim().parse::<f64>().ok()) {
            sample(out, "node_network_receive_nohandler_total", &[("device", device)], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    #[test]
    fn proc_files_become_node_exporter_series() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path();
        std::fs::create_dir_all(proc_root.join("net")).unwrap();
        std::fs::write(
            proc_root.join("stat"),
            "cpu  10 0 20 30 0 0 0 0 0 0\ncpu0 100 1 200 300 4 5 6 7 8 9\nintr 1\n",
        )
        .unwrap();
        std::fs::write(
            proc_root.join("meminfo"),
            "MemTotal:  1000 kB\nActive(anon):  2 kB\nHugePages_Total:  3\n",
        )
        .unwrap();
        std::fs::write(proc_root.join("loadavg"), "0.5 0.25 0.125 1/84 479\n").unwrap();
        std::fs::write(proc_root.join("diskstats"), "254 0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n7 0 loop0 1 1 1 1 1 1 1 1 1 1 1\n254 1 vda1 1 1 1 1 1 1 1 1 1 1 1\n").unwrap();
        std::fs::write(proc_root.join("mounts"), "proc /proc proc rw 0 0\n").unwrap();
        std::fs::write(
            proc_root.join("net/dev"),
            "Inter-| Receive | Transmit\n face |bytes ...\n  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n eth0: 100 2 3 4 5 6 7 8 900 10 11 12 13 14 15 16\n",
        )
        .unwrap();
        let text = exposition(proc_root);
        let samples = parse(&text).unwrap();
        let value = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.labels.metric_name() == Some(name)
                        && labels.iter().all(|(n, v)| s.labels.get(n) == Some(v))
                })
                .map(|s| s.value)
        };
        assert_eq!(value("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "system")]), Some(2.0));
        assert_eq!(value("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "steal")]), Some(0.07));
        assert_eq!(value("node_cpu_guest_seconds_total", &[("cpu", "0"), ("mode", "nice")]), Some(0.09));
        assert_eq!(value("node_memory_MemTotal_bytes", &[]), Some(1_024_000.0));
        assert_eq!(value("node_memory_Active_anon_bytes", &[]), Some(2048.0));
        assert_eq!(value("node_memory_HugePages_Total", &[]), Some(3.0));
        assert_eq!(value("node_load15", &[]), Some(0.125));
        assert_eq!(value("node_disk_read_bytes_total", &[("device", "vda")]), Some(1536.0));
        assert_eq!(value("node_disk_flush_requests_total", &[("device", "vda")]), Some(16.0));
        assert!(
            value("node_disk_reads_completed_total", &[("device", "loop0")]).is_none(),
            "loop devices excluded"
        );
        assert!(
            value("node_disk_reads_completed_total", &[("device", "vda1")]).is_none(),
            "partitions excluded"
        );
        assert_eq!(value("node_network_transmit_bytes_total", &[("device", "eth0")]), Some(900.0));
        assert!(value("node_network_receive_bytes_total", &[("device", "lo")]).is_none(), "lo excluded");
        assert!(!text.contains("node_filesystem"), "/proc is excluded");
    }
}
