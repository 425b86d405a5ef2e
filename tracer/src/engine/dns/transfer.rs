//! The bytes a completed send or receive syscall moved, read from tracee
//! memory at its exit stop with the arguments saved at its entry.

use nix::unistd::Pid;

use crate::engine::memory::read_bytes;

/// Largest chunk read from one buffer: a TCP length prefix plus the largest
/// DNS message.
pub const MAX_CHUNK: usize = 2 + 65_535;

/// Most iovec entries read for one message.
const MAX_IOVECS: u64 = 16;

/// Most messages read from one sendmmsg or recvmmsg.
const MAX_MESSAGES: u64 = 16;

/// Size of `struct iovec` on 64-bit Linux.
const IOVEC_SIZE: u64 = 16;

/// Size of `struct mmsghdr` on 64-bit Linux: a `struct msghdr` (56 bytes)
/// and `msg_len`, padded to 64.
const MMSGHDR_SIZE: u64 = 64;

/// Offset of `msg_len` in `struct mmsghdr`.
const MSG_LEN_OFFSET: u64 = 56;

/// Offsets of `msg_iov` and `msg_iovlen` in `struct msghdr`.
const MSG_IOV_OFFSET: u64 = 16;
const MSG_IOVLEN_OFFSET: u64 = 24;

/// Whether the data left or reached the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the process.
    Outbound,
    /// Received by the process.
    Inbound,
}

/// Returns the fd and direction of a send or receive syscall, or `None`
/// for other syscalls.
pub fn data_syscall(name: &str, args: &[u64; 6]) -> Option<(i32, Direction)> {
    let direction = match name {
        "write" | "writev" | "sendto" | "sendmsg" | "sendmmsg" => Direction::Outbound,
        "read" | "readv" | "recvfrom" | "recvmsg" | "recvmmsg" => Direction::Inbound,
        _ => return None,
    };
    Some((args[0] as i32, direction))
}

/// Reads the data the syscall `name` moved, one chunk per datagram or
/// write: `ret` is its return value and `args` its arguments at entry.
/// Unreadable memory gives fewer chunks, never an error.
pub fn read_chunks(pid: Pid, name: &str, args: &[u64; 6], ret: i64) -> Vec<Vec<u8>> {
    if ret <= 0 {
        return Vec::new();
    }
    let moved = ret as u64;
    let chunk = match name {
        "write" | "read" | "sendto" | "recvfrom" => read_buffer(pid, args[1], moved.min(args[2])),
        "writev" | "readv" => gather(pid, args[1], args[2], moved),
        "sendmsg" | "recvmsg" => read_msghdr(pid, args[1], moved),
        "sendmmsg" | "recvmmsg" => return read_mmsghdrs(pid, args[1], moved),
        _ => None,
    };
    chunk
        .into_iter()
        .filter(|bytes| !bytes.is_empty())
        .collect()
}

fn read_buffer(pid: Pid, address: u64, length: u64) -> Option<Vec<u8>> {
    let length = usize::try_from(length).unwrap_or(MAX_CHUNK).min(MAX_CHUNK);
    read_bytes(pid, address, length)
}

fn read_u64(pid: Pid, address: u64) -> Option<u64> {
    let bytes = read_bytes(pid, address, 8)?;
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

/// Concatenates the first `moved` bytes of an iovec array.
fn gather(pid: Pid, iovecs: u64, count: u64, moved: u64) -> Option<Vec<u8>> {
    let count = count.min(MAX_IOVECS);
    let table = read_bytes(pid, iovecs, (count * IOVEC_SIZE) as usize)?;
    let mut out = Vec::new();
    let mut left = moved.min(MAX_CHUNK as u64);
    for entry in table.chunks_exact(IOVEC_SIZE as usize) {
        if left == 0 {
            break;
        }
        let base = u64::from_ne_bytes(entry[0..8].try_into().ok()?);
        let length = u64::from_ne_bytes(entry[8..16].try_into().ok()?).min(left);
        out.extend(read_buffer(pid, base, length)?);
        left -= length;
    }
    Some(out)
}

fn read_msghdr(pid: Pid, msghdr: u64, moved: u64) -> Option<Vec<u8>> {
    let iovecs = read_u64(pid, msghdr + MSG_IOV_OFFSET)?;
    let count = read_u64(pid, msghdr + MSG_IOVLEN_OFFSET)?;
    gather(pid, iovecs, count, moved)
}

/// Reads each of the `count` messages of an mmsghdr array, up to the
/// `msg_len` the kernel wrote back.
fn read_mmsghdrs(pid: Pid, array: u64, count: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for index in 0..count.min(MAX_MESSAGES) {
        let entry = array + index * MMSGHDR_SIZE;
        let Some(length) = read_bytes(pid, entry + MSG_LEN_OFFSET, 4) else {
            break;
        };
        let length = u32::from_ne_bytes([length[0], length[1], length[2], length[3]]);
        if let Some(bytes) = read_msghdr(pid, entry, u64::from(length)) {
            out.push(bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_syscalls_have_directions() {
        let args = [5, 0, 0, 0, 0, 0];
        assert_eq!(
            data_syscall("sendmmsg", &args),
            Some((5, Direction::Outbound))
        );
        assert_eq!(
            data_syscall("recvfrom", &args),
            Some((5, Direction::Inbound))
        );
        assert_eq!(data_syscall("poll", &args), None);
    }

    #[test]
    fn own_buffers_are_read_back() {
        // The tracer reads its own memory through the same calls.
        let pid = nix::unistd::getpid();
        let first = b"abc".to_vec();
        let second = b"defg".to_vec();
        let iovecs: Vec<u64> = vec![
            first.as_ptr() as u64,
            first.len() as u64,
            second.as_ptr() as u64,
            second.len() as u64,
        ];
        let chunks = read_chunks(pid, "writev", &[3, iovecs.as_ptr() as u64, 2, 0, 0, 0], 5);
        assert_eq!(chunks, vec![b"abcde".to_vec()]);
        let chunks = read_chunks(pid, "sendto", &[3, first.as_ptr() as u64, 3, 0, 0, 0], 2);
        assert_eq!(chunks, vec![b"ab".to_vec()]);
        assert!(read_chunks(pid, "read", &[3, first.as_ptr() as u64, 3, 0, 0, 0], -11).is_empty());
    }
}
