//! Reading a process's CPU time and resident memory from `/proc`.

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI).
const CLK_TCK: f64 = 100.0;

/// CPU seconds used so far by process `pid` (all its threads), split into user and system
/// (kernel) time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// Time in the process's own code (and its libraries).
    pub user: f64,
    /// Time in the kernel on the process's behalf (for these servers, mostly TCP).
    pub system: f64,
}

impl CpuTimes {
    /// User + system.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Add for CpuTimes {
    type Output = CpuTimes;
    fn add(self, other: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;
    fn sub(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// The CPU times of process `pid` so far.
pub fn cpu_times(pid: u32) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(CpuTimes {
        user: utime as f64 / CLK_TCK,
        system: stime as f64 / CLK_TCK,
    })
}

/// User + system CPU seconds used so far by process `pid` (all its threads).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(CpuTimes::total)
}

/// Resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's count of connections dropped at a listening socket so far (`TcpExt`
/// `ListenDrops` of `/proc/net/netstat`: mostly a handshake that found the accept queue full;
/// the client then tries again after its SYN retransmission timeout, 1 s, then 3 s, ...).
/// It counts for every process of this network namespace: on a quiet machine, the run's.
pub fn listen_drops() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let i = names.split_whitespace().position(|n| n == "ListenDrops")?;
        return values.split_whitespace().nth(i)?.parse().ok();
    }
    None
}

/// This process's own CPU seconds.
pub fn self_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(super::cpu_seconds(me).is_some());
        // Burn some user time; the split must see it.
        let before = super::cpu_times(me).unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = super::cpu_times(me).unwrap() - before;
        assert!(spent.user > 0.0, "no user time seen: {spent:?}");
        assert!(spent.total() >= spent.user);
        assert!(super::rss_kib(me).unwrap() > 0);
    }

    #[test]
    fn reads_the_listen_drops() {
        // Linux has had the counter since 2.6; a parse that lost it would read None.
        assert!(super::listen_drops().is_some());
    }
}
