//! The restart of the reconnect storm: the server stopped as an operator's restart stops it
//! (`SIGTERM`, then waiting for the process to be gone, `SIGKILL` after 10 s), then started
//! again with the command it was started with, and watched until it listens.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to restart, and how.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The running server's process id.
    pub pid: u32,
    /// The command line that starts it again, run with `sh -c "exec CMD"` (so the new
    /// process id is the server's). It inherits this process's CPU affinity and limits
    /// unless it sets its own (`bench/run.sh` puts `taskset` in front).
    pub cmd: String,
    /// Where the new server's stdout and stderr go (appended); nowhere without one.
    pub log: Option<PathBuf>,
    /// A file to write the new server's process id into, as soon as it is known, so that
    /// the caller can stop it whatever happens to this process.
    pub pidfile: Option<PathBuf>,
    /// The address the server listens on.
    pub addr: SocketAddr,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Done {
    /// When `SIGTERM` was sent.
    pub kill_at: Instant,
    /// When the old process was gone (exited, or a zombie: its sockets are closed).
    pub exited_at: Option<Instant>,
    /// When the new process accepted a connection.
    pub listening_at: Option<Instant>,
    /// The new server's process id.
    pub new_pid: Option<u32>,
    /// What went wrong, if anything.
    pub problems: Vec<String>,
}

/// How long the old process may take to exit after `SIGTERM`, and after `SIGKILL`.
const TERM_GRACE: Duration = Duration::from_secs(10);
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long the new process may take to listen.
const LISTEN_LIMIT: Duration = Duration::from_secs(30);

/// Stops the server and starts it again (blocks; run it off the clients' thread).
pub fn run(spec: &Spec) -> Done {
    let mut done = Done {
        kill_at: Instant::now(),
        exited_at: None,
        listening_at: None,
        new_pid: None,
        problems: Vec::new(),
    };
    signal(spec.pid, "TERM");
    if !wait_gone(spec.pid, TERM_GRACE) {
        done.problems.push(format!(
            "the server (pid {}) did not exit within {} s of SIGTERM: killed",
            spec.pid,
            TERM_GRACE.as_secs()
        ));
        signal(spec.pid, "KILL");
        if !wait_gone(spec.pid, KILL_GRACE) {
            done.problems
                .push("the server did not exit after SIGKILL: not restarted".into());
            return done;
        }
    }
    done.exited_at = Some(Instant::now());
    let out = |log: &Option<PathBuf>| match log {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or_else(|_| Stdio::null(), Stdio::from),
        None => Stdio::null(),
    };
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {}", spec.cmd))
        .stdin(Stdio::null())
        .stdout(out(&spec.log))
        .stderr(out(&spec.log))
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            done.problems
                .push(format!("the server could not be started again: {e}"));
            return done;
        }
    };
    done.new_pid = Some(child.id());
    if let Some(path) = &spec.pidfile {
        if let Err(e) = std::fs::write(path, format!("{}\n", child.id())) {
            done.problems
                .push(format!("could not write {}: {e}", path.display()));
        }
    }
    let deadline = Instant::now() + LISTEN_LIMIT;
    while Instant::now() < deadline {
        // A probe connection: accepted and closed at once, the cost of one refused client.
        if TcpStream::connect_timeout(&spec.addr, Duration::from_millis(200)).is_ok() {
            done.listening_at = Some(Instant::now());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            done.problems
                .push(format!("the restarted server exited: {status}"));
            return done;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if done.listening_at.is_none() {
        done.problems.push(format!(
            "the restarted server did not listen within {} s",
            LISTEN_LIMIT.as_secs()
        ));
    }
    // The child is left running (dropping the handle neither kills nor waits for it); the
    // caller stops it by the pid reported.
    done
}

/// Sends `SIGsig` with kill(1): no `unsafe` for one signal per run.
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether process `pid` is gone: no longer in `/proc`, or a zombie (it exited, and its
/// parent has not collected it yet: its sockets are closed all the same). Every thread is
/// checked: a multi-threaded process's first thread shows as a zombie as soon as it has
/// exited itself, while the others may still be closing the process's files (its listening
/// socket among them, which a restart must not race).
pub fn gone(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(
        |task| match std::fs::read_to_string(task.path().join("stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X"),
        },
    )
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if gone(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_stopped_and_started_again() {
        // A real server: Python's http.server on a free port of 127.0.0.1.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cmd = format!("python3 -m http.server --bind 127.0.0.1 {port}");
        let mut first = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "python3 did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = std::env::temp_dir().join(format!("loadgen-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = Spec {
            pid: first.id(),
            cmd,
            log: None,
            pidfile: Some(dir.join("pid")),
            addr,
        };
        let done = run(&spec);
        assert!(done.problems.is_empty(), "{:?}", done.problems);
        let new_pid = done.new_pid.unwrap();
        assert_ne!(new_pid, first.id());
        assert!(gone(first.id()));
        assert!(first.wait().is_ok());
        assert!(done.exited_at.unwrap() >= done.kill_at);
        assert!(done.listening_at.unwrap() >= done.exited_at.unwrap());
        let written = std::fs::read_to_string(dir.join("pid")).unwrap();
        assert_eq!(written.trim(), new_pid.to_string());
        assert!(!gone(new_pid));
        signal(new_pid, "TERM");
        assert!(wait_gone(new_pid, Duration::from_secs(10)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
