//! Helpers for the DNS tests: a small name server of the test's own on a
//! loopback address (UDP and TCP port 53), and a private mount namespace
//! in which a resolv.conf that points at it covers /etc/resolv.conf.
//!
//! The namespace is made with `unshare -m`, and the workload runs only
//! after the bind mount succeeded, so a lookup never reaches the name
//! server of the machine.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// TTL of every answer, in seconds.
pub const TTL: u32 = 300;

/// The shape of the server's response for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A well-formed answer with the record's addresses.
    Normal,
    /// A well-formed answer cut in the middle of its last record.
    Truncated,
    /// An answer whose record name is a compression pointer to itself.
    PointerLoop,
    /// A well-formed answer whose header claims 65535 answer records.
    ForgedCount,
}

/// The addresses of one name and how they are served.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// The A answer.
    pub ipv4: Option<Ipv4Addr>,
    /// The AAAA answer.
    pub ipv6: Option<Ipv6Addr>,
    /// The shape of the response.
    pub reply: Reply,
}

impl Record {
    /// Builds a record with an IPv4 address only, served normally.
    pub fn v4(ip: Ipv4Addr) -> Record {
        Record {
            ipv4: Some(ip),
            ipv6: None,
            reply: Reply::Normal,
        }
    }

    /// Builds a record with an IPv4 address, served with a malformed response.
    pub fn broken(ip: Ipv4Addr, reply: Reply) -> Record {
        Record {
            reply,
            ..Record::v4(ip)
        }
    }
}

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuery {
    /// Transaction id.
    pub id: u16,
    /// Question name, lowercased, without the trailing dot.
    pub name: String,
    /// Question type.
    pub qtype: u16,
    /// True when it came over TCP.
    pub tcp: bool,
}

type Zone = Arc<HashMap<String, Record>>;

/// A name server on `ADDRESS:53` that runs until dropped.
pub struct DnsServer {
    /// The address it listens on.
    pub address: Ipv4Addr,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<ReceivedQuery>>>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts serving `records` (name to record) over UDP and TCP.
    pub fn start(address: Ipv4Addr, records: &[(&str, Record)]) -> DnsServer {
        let zone: Zone = Arc::new(
            records
                .iter()
                .map(|(name, record)| (name.to_ascii_lowercase(), *record))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let udp = UdpSocket::bind((address, 53)).expect("binding the test DNS server (UDP)");
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("setting a read timeout");
        let tcp = TcpListener::bind((address, 53)).expect("binding the test DNS server (TCP)");
        tcp.set_nonblocking(true)
            .expect("making the listener nonblocking");
        let threads = vec![
            spawn_udp(udp, zone.clone(), stop.clone(), received.clone()),
            spawn_tcp(tcp, zone, stop.clone(), received.clone()),
        ];
        DnsServer {
            address,
            stop,
            received,
            threads,
        }
    }

    /// Returns the queries received so far.
    pub fn received(&self) -> Vec<ReceivedQuery> {
        self.received.lock().expect("query log").clone()
    }

    /// Writes a resolv.conf that uses only this server into `directory`,
    /// with extra `options` (`use-vc` for TCP), and returns its path.
    pub fn resolv_conf(&self, directory: &Path, options: &str) -> PathBuf {
        let path = directory.join("resolv.conf");
        let mut text = format!("nameserver {}\noptions attempts:1 timeout:2", self.address);
        if !options.is_empty() {
            text.push(' ');
            text.push_str(options);
        }
        text.push('\n');
        std::fs::write(&path, text).expect("writing resolv.conf");
        path
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Returns a command line that runs `command` in a new mount namespace in
/// which `resolv_conf` covers /etc/resolv.conf.
pub fn in_namespace(resolv_conf: &Path, command: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = [
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
    ]
    .map(String::from)
    .to_vec();
    argv.push(resolv_conf.display().to_string());
    argv.extend(command.iter().cloned());
    argv
}

fn spawn_udp(
    socket: UdpSocket,
    zone: Zone,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<ReceivedQuery>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            if let Some((query, response)) = answer(&zone, &buffer[..length], false) {
                received.lock().expect("query log").push(query);
                let _ = socket.send_to(&response, peer);
            }
        }
    })
}

fn spawn_tcp(
    listener: TcpListener,
    zone: Zone,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<ReceivedQuery>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => serve_tcp(stream, &zone, &received),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })
}

/// Answers length-prefixed queries on one connection until the client
/// closes it or stays silent for 2 seconds.
fn serve_tcp(mut stream: TcpStream, zone: &Zone, received: &Mutex<Vec<ReceivedQuery>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    loop {
        let mut prefix = [0u8; 2];
        if stream.read_exact(&mut prefix).is_err() {
            return;
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        if stream.read_exact(&mut message).is_err() {
            return;
        }
        let Some((query, response)) = answer(zone, &message, true) else {
            return;
        };
        received.lock().expect("query log").push(query);
        let mut framed = (response.len() as u16).to_be_bytes().to_vec();
        framed.extend(response);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// Builds the response to one query, or `None` when it is not a query.
fn answer(zone: &Zone, query: &[u8], tcp: bool) -> Option<(ReceivedQuery, Vec<u8>)> {
    if query.len() < 12 {
        return None;
    }
    let mut offset = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(*query.get(offset)?);
        if length == 0 || length > 63 {
            break;
        }
        labels.push(
            String::from_utf8_lossy(query.get(offset + 1..offset + 1 + length)?).into_owned(),
        );
        offset += 1 + length;
    }

    let question_end = offset + 5;
    let question = query.get(12..question_end)?;
    let qtype = u16::from_be_bytes([query[offset + 1], query[offset + 2]]);
    let name = labels.join(".").to_ascii_lowercase();
    let received = ReceivedQuery {
        id: u16::from_be_bytes([query[0], query[1]]),
        name: name.clone(),
        qtype,
        tcp,
    };

    let record = zone.get(&name);
    let rdata: Option<Vec<u8>> = match (record, qtype) {
        (Some(record), 1) => record.ipv4.map(|ip| ip.octets().to_vec()),
        (Some(record), 28) => record.ipv6.map(|ip| ip.octets().to_vec()),
        _ => None,
    };
    let reply = record.map_or(Reply::Normal, |record| record.reply);
    // NXDOMAIN for unknown names, an empty NOERROR answer for a missing type.
    let rcode = if record.is_none() { 3 } else { 0 };

    let mut response = query[..2].to_vec();
    response.extend([0x81, 0x80 | rcode, 0, 1, 0, 0, 0, 0, 0, 0]);
    response.extend(question);
    if let Some(rdata) = rdata {
        let answer_count: u16 = if reply == Reply::ForgedCount {
            0xffff
        } else {
            1
        };
        response[6..8].copy_from_slice(&answer_count.to_be_bytes());
        let record_start = response.len() as u16;
        if reply == Reply::PointerLoop {
            response.extend((0xc000 | record_start).to_be_bytes());
        } else {
            response.extend([0xc0, 12]);
        }
        response.extend(qtype.to_be_bytes());
        response.extend([0, 1]);
        response.extend(TTL.to_be_bytes());
        response.extend((rdata.len() as u16).to_be_bytes());
        response.extend(rdata);
        if reply == Reply::Truncated {
            response.truncate(response.len() - 2);
        }
    }
    Some((received, response))
}

/// Starts a TCP listener on `address` (any free port) that accepts and
/// closes connections until dropped, and returns it with its port.
pub fn loopback_listener(address: Ipv4Addr) -> (TcpListener, u16) {
    let listener = TcpListener::bind(SocketAddr::from((address, 0))).expect("binding a listener");
    let port = listener.local_addr().expect("listener address").port();
    (listener, port)
}
