//! Alert sinks of `sentrace run`: an HTTP endpoint on loopback receives each
//! alert as a JSON POST (after a failed first attempt, which is retried),
//! and a file sink receives the same alert as a JSON line.

mod probe_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use probe_support::{read_alerts, run_with_timeout, scratch_dir, sentrace};
use serde_json::Value;

/// Serves HTTP requests on loopback. It returns status 503 for the first
/// request and 200 for the rest, and sends each request line and body to the
/// returned channel.
fn start_webhook() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding webhook");
    let addr = listener.local_addr().expect("webhook address");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let status = if index == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = sender.send((
                request_line.trim().to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
    });
    (format!("http://{addr}/alerts"), receiver)
}

#[test]
fn http_and_file_sinks_receive_alert() {
    let directory = scratch_dir("sinks");
    let file = directory.join("alerts.jsonl");
    let (url, requests) = start_webhook();
    let output = run_with_timeout(
        Command::new(sentrace())
            .args([
                "run",
                "--alerts",
                &url,
                "--alerts",
                &format!("file:{}", file.display()),
            ])
            .args(["--", "sh", "-c", "cat /etc/shadow >/dev/null"]),
        Duration::from_secs(60),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let (first_line, _) = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("first POST");
    assert_eq!(first_line, "POST /alerts HTTP/1.1");
    let (retry_line, body) = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("retried POST");
    assert_eq!(retry_line, "POST /alerts HTTP/1.1");
    let alert: Value = serde_json::from_str(&body).expect("POST body is JSON");
    assert_eq!(alert["rule_id"], "credential_shadow_read");
    assert_eq!(alert["event"]["open"]["file"]["path"], "/etc/shadow");
    assert!(
        requests.recv_timeout(Duration::from_millis(500)).is_err(),
        "the alert was posted again after a 200"
    );

    let lines = read_alerts(&file);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["rule_id"], "credential_shadow_read");
}
