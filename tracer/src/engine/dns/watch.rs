//! The state of one thread whose DNS exchange the tracer follows: the
//! sockets it talks to a name server through, their framing, the queries
//! waiting for an answer, and the syscall budget left.

use std::collections::VecDeque;

use super::message::{self, Message, HEADER_LEN};
use super::transfer::{Direction, MAX_CHUNK};
use crate::engine::regs::SyscallRegs;

/// Syscalls a thread may make after its last DNS message before the tracer
/// stops following it. glibc's resolver needs about six per lookup
/// (connect, sendmmsg, poll, two recvfrom, close).
pub const WATCH_SYSCALLS: u32 = 64;

/// Most sockets followed at once in one thread. glibc uses one socket per
/// lookup, or two with `single-request-reopen`. Each socket buffers at most
/// two partial TCP messages.
const MAX_SOCKETS: usize = 4;

/// Most query ids remembered per socket.
const MAX_PENDING_IDS: usize = 16;

/// The way messages are delimited on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not known until the first data.
    Unknown,
    /// One message per datagram (UDP).
    Datagram,
    /// A byte stream of messages, each after a 2-byte length (TCP).
    Stream,
}

/// One socket connected to, or sending to, a name server.
#[derive(Debug)]
struct Channel {
    fd: i32,
    framing: Framing,
    outbound: Vec<u8>,
    inbound: Vec<u8>,
    /// Ids of queries sent and not yet answered, oldest first.
    pending_ids: VecDeque<u16>,
}

/// The DNS state of one followed thread.
#[derive(Debug)]
pub struct Watch {
    channels: Vec<Channel>,
    remaining: u32,
    /// The registers of the syscall in progress, saved at its entry (or
    /// seccomp) stop, because on some architectures the exit stop has
    /// overwritten the first argument.
    pub entry: Option<SyscallRegs>,
}

impl Watch {
    /// Starts following socket `fd`.
    pub fn new(fd: i32) -> Watch {
        let mut watch = Watch {
            channels: Vec::new(),
            remaining: WATCH_SYSCALLS,
            entry: None,
        };
        watch.add(fd);
        watch
    }

    /// Follows socket `fd` too, replacing the oldest socket when
    /// [`MAX_SOCKETS`] are followed already.
    pub fn add(&mut self, fd: i32) {
        self.remaining = WATCH_SYSCALLS;
        if let Some(channel) = self.channels.iter_mut().find(|channel| channel.fd == fd) {
            // A connect to a new server reuses the fd for a new exchange.
            *channel = Channel::new(fd);
            return;
        }
        if self.channels.len() >= MAX_SOCKETS {
            self.channels.remove(0);
        }
        self.channels.push(Channel::new(fd));
    }

    /// Returns true when socket `fd` is followed.
    pub fn follows(&self, fd: i32) -> bool {
        self.channels.iter().any(|channel| channel.fd == fd)
    }

    /// Stops following `fd` after the process closed it.
    pub fn close(&mut self, fd: i32) {
        self.channels.retain(|channel| channel.fd != fd);
    }

    /// Counts one completed syscall against the budget.
    pub fn tick(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// Returns true when no socket is left or the budget is spent.
    pub fn is_done(&self) -> bool {
        self.channels.is_empty() || self.remaining == 0
    }

    /// Takes the data one syscall moved on `fd` and returns the complete
    /// messages in it: every query sent, and the responses whose id matches
    /// a query sent on the same socket. Any message refills the budget.
    pub fn feed(&mut self, fd: i32, direction: Direction, chunks: Vec<Vec<u8>>) -> Vec<Message> {
        let Some(channel) = self.channels.iter_mut().find(|channel| channel.fd == fd) else {
            return Vec::new();
        };
        let mut messages = Vec::new();
        for chunk in chunks {
            for bytes in channel.frames(direction, chunk) {
                if let Some(message) = channel.accept(direction, &bytes) {
                    messages.push(message);
                }
            }
        }
        if !messages.is_empty() {
            self.remaining = WATCH_SYSCALLS;
        }
        messages
    }
}

impl Channel {
    fn new(fd: i32) -> Channel {
        Channel {
            fd,
            framing: Framing::Unknown,
            outbound: Vec::new(),
            inbound: Vec::new(),
            pending_ids: VecDeque::new(),
        }
    }

    /// Splits one chunk into messages according to the socket's framing,
    /// which the first chunk decides.
    fn frames(&mut self, direction: Direction, chunk: Vec<u8>) -> Vec<Vec<u8>> {
        if self.framing == Framing::Unknown {
            self.framing = detect_framing(&chunk);
        }
        if self.framing == Framing::Datagram {
            return vec![chunk];
        }
        let buffer = match direction {
            Direction::Outbound => &mut self.outbound,
            Direction::Inbound => &mut self.inbound,
        };
        buffer.extend(chunk);
        let mut frames = Vec::new();
        while buffer.len() >= 2 {
            let length = usize::from(u16::from_be_bytes([buffer[0], buffer[1]]));
            if buffer.len() < 2 + length {
                break;
            }
            frames.push(buffer[2..2 + length].to_vec());
            buffer.drain(..2 + length);
        }
        // A stream that never completes a frame is not DNS: drop it.
        if buffer.len() > MAX_CHUNK {
            buffer.clear();
        }
        frames
    }

    /// Parses a message and keeps it when it is a query sent, or the
    /// response to a query sent on this socket.
    fn accept(&mut self, direction: Direction, bytes: &[u8]) -> Option<Message> {
        let message = message::parse(bytes).ok()?;
        match (direction, message.is_response) {
            (Direction::Outbound, false) => {
                if self.pending_ids.len() >= MAX_PENDING_IDS {
                    self.pending_ids.pop_front();
                }
                self.pending_ids.push_back(message.id);
                Some(message)
            }
            (Direction::Inbound, true) => {
                let index = self.pending_ids.iter().position(|id| *id == message.id)?;
                self.pending_ids.remove(index);
                Some(message)
            }
            _ => None,
        }
    }
}

/// Decides the framing from the first chunk on a socket: a chunk of two
/// bytes, or one that starts with a 2-byte length followed by a message
/// with a question, is a stream. A UDP query read that way has a zero
/// question count (its answer count), so it is not mistaken for one.
fn detect_framing(chunk: &[u8]) -> Framing {
    if chunk.len() == 2 {
        return Framing::Stream;
    }
    if chunk.len() < 2 + HEADER_LEN {
        return Framing::Datagram;
    }
    let length = usize::from(u16::from_be_bytes([chunk[0], chunk[1]]));
    let framed = chunk
        .get(2..2 + length)
        .and_then(|bytes| message::parse(bytes).ok())
        .is_some_and(|message| message.question.is_some());
    if framed {
        Framing::Stream
    } else {
        Framing::Datagram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend([1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend([1, b'x', 7]);
        out.extend(b"example");
        out.extend([0, 0, 1, 0, 1]);
        out
    }

    fn response(id: u16) -> Vec<u8> {
        let mut out = query(id);
        out[2] = 0x81;
        out[7] = 1;
        out.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
        out
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut out = (message.len() as u16).to_be_bytes().to_vec();
        out.extend(message);
        out
    }

    #[test]
    fn datagram_query_and_answer() {
        let mut watch = Watch::new(4);
        let sent = watch.feed(4, Direction::Outbound, vec![query(0x1111), query(0x2222)]);
        assert_eq!(sent.len(), 2);
        let received = watch.feed(4, Direction::Inbound, vec![response(0x2222)]);
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].addresses.len(), 1);
    }

    #[test]
    fn response_without_query_is_ignored() {
        let mut watch = Watch::new(4);
        watch.feed(4, Direction::Outbound, vec![query(1)]);
        assert!(watch
            .feed(4, Direction::Inbound, vec![response(2)])
            .is_empty());
        // An id is answered once.
        assert_eq!(
            watch.feed(4, Direction::Inbound, vec![response(1)]).len(),
            1
        );
        assert!(watch
            .feed(4, Direction::Inbound, vec![response(1)])
            .is_empty());
    }

    #[test]
    fn stream_reads_in_pieces() {
        let mut watch = Watch::new(5);
        let sent = watch.feed(5, Direction::Outbound, vec![framed(&query(9))]);
        assert_eq!(sent.len(), 1);
        let reply = framed(&response(9));
        assert!(watch
            .feed(5, Direction::Inbound, vec![reply[..2].to_vec()])
            .is_empty());
        assert!(watch
            .feed(5, Direction::Inbound, vec![reply[2..10].to_vec()])
            .is_empty());
        let received = watch.feed(5, Direction::Inbound, vec![reply[10..].to_vec()]);
        assert_eq!(received.len(), 1);
    }

    #[test]
    fn small_id_datagram_stays_a_datagram() {
        // Id 0x0010 reads as a length of 16, but what follows has no question.
        assert_eq!(detect_framing(&query(0x0010)), Framing::Datagram);
        assert_eq!(detect_framing(&framed(&query(0x0010))), Framing::Stream);
    }

    #[test]
    fn budget_runs_out_and_refills() {
        let mut watch = Watch::new(4);
        for _ in 0..WATCH_SYSCALLS - 1 {
            watch.tick();
        }
        assert!(!watch.is_done());
        watch.feed(4, Direction::Outbound, vec![query(1)]);
        for _ in 0..WATCH_SYSCALLS - 1 {
            watch.tick();
        }
        assert!(!watch.is_done());
        watch.tick();
        assert!(watch.is_done());
    }

    #[test]
    fn closing_the_last_socket_ends_the_watch() {
        let mut watch = Watch::new(4);
        watch.add(6);
        watch.close(4);
        assert!(!watch.is_done());
        assert!(!watch.follows(4));
        watch.close(6);
        assert!(watch.is_done());
    }

    #[test]
    fn garbage_is_not_a_message() {
        let mut watch = Watch::new(4);
        let noise: Vec<u8> = (0..200u8).map(|byte| byte.wrapping_mul(37)).collect();
        assert!(watch.feed(4, Direction::Outbound, vec![noise]).is_empty());
    }
}
