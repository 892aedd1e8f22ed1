//! The `sockeye` binary's command line, run as a user runs it.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the binary with `args`; its exit code and stderr (killed after 10 s).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockeye"))
        .args(args)
        .env("GLIBC_TUNABLES", "")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sockeye");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    (status.and_then(|s| s.code()), err)
}

#[test]
fn a_port_in_use_is_named_with_the_flag_that_changes_it() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, err) = run(&["--host", "127.0.0.1", "--port", &port]);
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        err.contains(&format!("port {port} is already in use")),
        "{err}"
    );
    assert!(err.contains("--port"), "{err}");
    drop(taken);
}

#[test]
fn a_bad_flag_is_refused_with_a_pointer_to_help() {
    let (code, err) = run(&["--port", "eighty"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--port: `eighty` is not a valid number"),
        "{err}"
    );
    assert!(err.contains("sockeye --help"), "{err}");
}
