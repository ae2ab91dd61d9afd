//! What the tool reads from the operating system: its own CPU time, the broker's CPU time and
//! resident memory from `/proc`, and the open-file limit.

use std::io;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use rustix::time::{ClockId, clock_gettime};

/// CPU time (user + system, all threads) used by this process so far.
pub fn own_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// CPU time (utime + stime from `/proc/PID/stat`) used by process `pid` so far.
pub fn proc_cpu(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_cpu(&stat, rustix::param::clock_ticks_per_second()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })
}

fn parse_stat_cpu(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')': field 3 (state) is index 0, so utime (field 14) is index 11, stime index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / ticks_per_s.max(1),
    ))
}

/// Resident set size in bytes (`VmRSS` from `/proc/PID/status`) of process `pid`.
pub fn proc_rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current != maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: maximum,
                maximum,
            },
        )?;
    }
    Ok(maximum.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_name() {
        let stat =
            "1234 (my (odd) broker) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu(stat, 100), Some(Duration::from_secs(3)));
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tmosquitto\nVmPeak:\t  9000 kB\nVmRSS:\t    6144 kB\nThreads:\t1\n";
        assert_eq!(parse_vmrss(status), Some(6144 * 1024));
    }

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(proc_rss(pid).unwrap() > 0);
        proc_cpu(pid).unwrap();
        let _ = own_cpu();
    }
}
