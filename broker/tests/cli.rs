//! The `tern` binary: flags, configuration errors, start-up and SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TERN: &str = env!("CARGO_BIN_EXE_tern");

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn tern(args: &[&str]) -> Output {
    Command::new(TERN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn help_explains_every_flag() {
    let out = tern(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--config", "--listen", "--check-config", "127.0.0.1:1883"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/tern.example.toml");
    let out = tern(&["--config", example, "--check-config"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "configuration OK\n");
}

#[test]
fn check_config_names_file_line_and_key() {
    let cases = [
        (
            "bind.toml",
            "[[listener]]\nbind = \"x\"\n",
            ":2: listener[0].bind: invalid socket address \"x\"",
        ),
        (
            "unknown.toml",
            "shards = 1\n\n[sessions]\nqueue_qos0 = true\n",
            ":4: sessions.queue_qos0: unknown field `queue_qos0`",
        ),
        (
            "range.toml",
            "[limits]\nreceive_maximum = 0\n",
            ":2: limits.receive_maximum: 0 is out of range 1 to 65535",
        ),
        (
            "type.toml",
            "allow_anonymous = \"yes\"\n",
            ":1: allow_anonymous: invalid type: string \"yes\", expected a boolean",
        ),
    ];
    for (name, text, expected) in cases {
        let path = temp_config(name, text);
        let out = tern(&["--check-config", "--config", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{name} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("tern: {}{expected}", path.display());
        assert!(
            stderr.starts_with(&want),
            "{name}: got {stderr:?}, want {want:?}"
        );
    }
}

#[test]
fn bad_log_level_is_a_config_error() {
    let path = temp_config("log.toml", "log_level = \"[[[\"\n");
    let out = tern(&["--check-config", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("log_level: invalid log filter"), "{stderr}");
}

#[test]
fn missing_config_file_is_reported() {
    let out = tern(&["--config", "/nonexistent/tern.toml", "--check-config"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("tern: /nonexistent/tern.toml: "));
}

/// Starts `tern` with `args` and returns it with the address it logged.
#[allow(clippy::zombie_processes)] // every caller waits with `wait_exit`
fn spawn(args: &[&str]) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Command::new(TERN)
        .args(args)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no \"listening on\" log line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return (child, addr, rx);
        }
    }
}

fn sigterm(child: &Child) {
    // The shell's builtin `kill`: no dependency on a procps binary.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("tern did not exit");
}

#[test]
fn listen_flag_serves_and_sigterm_stops_cleanly() {
    let (mut child, addr, logs) = spawn(&["--listen", "127.0.0.1:0"]);
    assert!(addr.ip().is_loopback());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // 3.1.1 CONNECT, client id "a".
    s.write_all(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a',
    ])
    .unwrap();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, [0x20, 2, 0, 0]);
    sigterm(&child);
    // A 3.1.1 client is just closed at shutdown (5.0 would get DISCONNECT 0x8B).
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:x?}");
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = logs.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("SIGTERM received")),
        "{rest:?}"
    );
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn listen_flag_overrides_the_config_file() {
    // 192.0.2.1 (TEST-NET-1) is not assigned here: binding it fails.
    let path = temp_config(
        "override.toml",
        "shards = 1\n[[listener]]\nbind = \"192.0.2.1:1883\"\n",
    );
    let file = path.to_str().unwrap();
    let mut child = Command::new(TERN)
        .args(["--config", file])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child);
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("cannot listen on 192.0.2.1:1883"),
        "{stderr}"
    );

    let (mut child, addr, _logs) = spawn(&["--config", file, "--listen", "127.0.0.1:0"]);
    assert!(TcpStream::connect(addr).is_ok());
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}
