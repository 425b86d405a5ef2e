//! The session's side of DNS following (see [`crate::engine::dns`]): when
//! a thread starts a lookup, which of its stops carry DNS data, the `dns`
//! events, and the hostname of a connect.

use std::net::IpAddr;
use std::time::Instant;

use nix::unistd::Pid;
use protocol::{Address, DnsEvent, DnsQuestion, EventBody};

use super::Session;
use crate::engine::decode::parse_sockaddr;
use crate::engine::dns::message::Message;
use crate::engine::dns::transfer::{self, Direction};
use crate::engine::dns::{Watch, DNS_PORT};
use crate::engine::memory::read_bytes;
use crate::engine::regs::SyscallRegs;

/// Largest socket address read from a sendto (`struct sockaddr_in6` is 28).
const MAX_SOCKADDR: usize = 128;

impl Session<'_> {
    /// Returns the name a traced process resolved to `ip`, or an empty
    /// string when none is known.
    pub(super) fn resolved_hostname(&self, ip: &str) -> String {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return String::new();
        };
        self.hostnames
            .lookup(ip, Instant::now())
            .unwrap_or_default()
            .to_string()
    }

    /// At the entry of a connect to `address`: remembers the socket when the
    /// destination is a name server, so the exit stop can follow it.
    pub(super) fn note_connect(&mut self, tid: u32, regs: &SyscallRegs, address: &Address) {
        if let Some(tracee) = self.tracees.get_mut(&tid) {
            tracee.dns_connect = is_name_server(address).then_some(regs.args[0] as i32);
        }
    }

    /// At the exit of a connect: starts following the socket when it was
    /// connected (or is connecting) to a name server.
    pub(super) fn on_connect_exit(&mut self, tid: u32, ret: i64) {
        let Some(tracee) = self.tracees.get_mut(&tid) else {
            return;
        };
        let Some(fd) = tracee.dns_connect.take() else {
            return;
        };
        if ret != 0 && ret != -i64::from(libc::EINPROGRESS) {
            return;
        }
        match tracee.dns.as_mut() {
            Some(watch) => watch.add(fd),
            None => tracee.dns = Some(Box::new(Watch::new(fd))),
        }
    }

    /// At the entry (or seccomp) stop of a sendto: starts following the
    /// socket when the destination is a name server, with this sendto as
    /// the first syscall to decode at its exit.
    pub(super) fn on_sendto_entry(&mut self, tid: u32, regs: &SyscallRegs) {
        let (destination, length) = (regs.args[4], regs.args[5] as usize);
        if destination == 0 {
            return;
        }
        let pid = Pid::from_raw(tid as i32);
        let address = read_bytes(pid, destination, length.min(MAX_SOCKADDR))
            .map(|bytes| parse_sockaddr(&bytes))
            .unwrap_or_default();
        if !is_name_server(&address) {
            return;
        }
        let Some(tracee) = self.tracees.get_mut(&tid) else {
            return;
        };
        let fd = regs.args[0] as i32;
        let watch = tracee.dns.get_or_insert_with(|| Box::new(Watch::new(fd)));
        if !watch.follows(fd) {
            watch.add(fd);
        }
        watch.entry = Some(*regs);
        // The next stop is this syscall's exit, and no entry stop came before it.
        tracee.in_syscall = true;
    }

    /// At a syscall-entry stop of a followed thread: keeps the registers for
    /// the exit stop.
    pub(super) fn on_followed_entry(&mut self, tid: u32, regs: &SyscallRegs) {
        if let Some(watch) = self
            .tracees
            .get_mut(&tid)
            .and_then(|tracee| tracee.dns.as_mut())
        {
            watch.entry = Some(*regs);
        }
    }

    /// At a syscall-exit stop of a followed thread: decodes what a send or
    /// receive on a followed socket moved, notes closes, and ends the watch
    /// when it is done.
    pub(super) fn on_followed_exit(&mut self, tid: u32, regs: &SyscallRegs) {
        let Some(tracee) = self.tracees.get_mut(&tid) else {
            return;
        };
        let started = tracee.started;
        let Some(watch) = tracee.dns.as_mut() else {
            return;
        };
        watch.tick();
        let entry = watch.entry.take().filter(|entry| entry.nr == regs.nr);
        let mut messages = Vec::new();
        if let Some(entry) = entry {
            let name = syscalls::Sysno::new(entry.nr as usize).map_or("", |sysno| sysno.name());
            if name == "close" && regs.ret == 0 {
                watch.close(entry.args[0] as i32);
            } else if let Some((fd, direction)) = transfer::data_syscall(name, &entry.args) {
                if watch.follows(fd) {
                    let pid = Pid::from_raw(tid as i32);
                    let chunks = transfer::read_chunks(pid, name, &entry.args, regs.ret);
                    messages = watch
                        .feed(fd, direction, chunks)
                        .into_iter()
                        .map(|message| (direction, message))
                        .collect();
                }
            }
        }
        if watch.is_done() {
            tracee.dns = None;
        }
        for (direction, message) in messages {
            match direction {
                Direction::Outbound if started => self.emit_query(tid, &message),
                Direction::Outbound => {}
                Direction::Inbound => self.remember_answers(&message),
            }
        }
    }

    fn emit_query(&mut self, tid: u32, message: &Message) {
        let Some(question) = &message.question else {
            return;
        };
        let dns = DnsEvent {
            id: message.id,
            question: DnsQuestion {
                name: question.name.clone(),
                qtype: question.qtype,
                class: question.class,
                count: message.question_count,
                length: u16::try_from(message.length).unwrap_or(u16::MAX),
            },
        };
        let process = self.context(tid);
        self.emit(process, EventBody::Dns { dns });
    }

    fn remember_answers(&mut self, message: &Message) {
        let Some(question) = &message.question else {
            return;
        };
        if message.rcode != 0 {
            return;
        }
        let now = Instant::now();
        for record in &message.addresses {
            self.hostnames
                .insert(record.ip, &question.name, record.ttl, now);
        }
    }
}

/// Returns true for an IPv4 or IPv6 address on the DNS port.
fn is_name_server(address: &Address) -> bool {
    let inet = matches!(i32::from(address.family), libc::AF_INET | libc::AF_INET6);
    inet && address.port == DNS_PORT
}
