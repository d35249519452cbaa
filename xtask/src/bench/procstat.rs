//! What the kernel says about a server process: peak resident memory (`VmHWM` in
//! `/proc/<pid>/status`, the high-water mark since it started) and CPU time (`utime + stime` in
//! `/proc/<pid>/stat`), the same figures the reference harness reads.

use std::fs;

/// One sample of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Peak resident set since the process started, MiB.
    pub peak_rss_mb: f64,
    /// Resident set now, MiB.
    pub rss_mb: f64,
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
    /// CPU seconds of its children that have exited and been waited for.
    pub children_cpu_s: f64,
}

/// Kernel clock ticks per second for `/proc/<pid>/stat` (USER_HZ, 100 on every Linux ABI the
/// bench runs on).
const CLOCK_TICKS: f64 = 100.0;

/// Reads `pid`'s figures; zeros when the process is gone.
pub fn sample(pid: u32) -> Sample {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0.0) };
    Sample {
        peak_rss_mb: kib("VmHWM:") / 1024.0,
        rss_mb: kib("VmRSS:") / 1024.0,
        // utime and stime are fields 14 and 15 of stat: 11 and 12 after the name.
        cpu_s: (ticks(11) + ticks(12)) / CLOCK_TICKS,
        // cutime and cstime: fields 16 and 17.
        children_cpu_s: (ticks(13) + ticks(14)) / CLOCK_TICKS,
    }
}

/// How busy both CPUs were over `millis` (from `/proc/stat`), in percent: before a run this is
/// the load of other processes on the shared machine.
pub async fn busy_percent(millis: u64) -> f64 {
    fn read() -> Vec<f64> {
        fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect()
    }
    let before = read();
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    let after = read();
    let delta: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let total: f64 = delta.iter().sum();
    let idle = delta.get(3).copied().unwrap_or(0.0) + delta.get(4).copied().unwrap_or(0.0);
    if total > 0.0 {
        100.0 * (1.0 - idle / total)
    } else {
        0.0
    }
}
