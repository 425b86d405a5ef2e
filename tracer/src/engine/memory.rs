//! Reading tracee memory.
//!
//! `process_vm_readv` reads one page-bounded chunk at a time, so that a
//! string which ends just before an unmapped page is read in full: a read
//! across the boundary would fail as a whole. When `process_vm_readv` is
//! refused (EPERM in containers without `SYS_PTRACE` after the tracee changed
//! uid, ENOSYS on old kernels), `PTRACE_PEEKDATA` reads word by word.

use std::io::IoSliceMut;

use nix::sys::ptrace;
use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;

pub const PAGE_SIZE: u64 = 4096;

/// Maximum length of a string the engine reads (`PATH_MAX`).
pub const MAX_STRING: usize = 4096;

/// Reads up to `buffer.len()` bytes at `address`, never crossing a page
/// boundary. Returns the number of bytes read, 0 when none are readable.
fn read_chunk(pid: Pid, address: u64, buffer: &mut [u8]) -> usize {
    let remote = [RemoteIoVec {
        base: address as usize,
        len: buffer.len(),
    }];
    let mut local = [IoSliceMut::new(buffer)];
    match process_vm_readv(pid, &mut local, &remote) {
        Ok(count) => count,
        Err(_) => peek_chunk(pid, address, local[0].as_mut()),
    }
}

/// `PTRACE_PEEKDATA` fallback: reads aligned words and copies the bytes asked for.
fn peek_chunk(pid: Pid, address: u64, buffer: &mut [u8]) -> usize {
    const WORD: u64 = std::mem::size_of::<libc::c_long>() as u64;
    let mut copied = 0;
    while copied < buffer.len() {
        let current = address + copied as u64;
        let aligned = current & !(WORD - 1);
        let Ok(word) = ptrace::read(pid, aligned as ptrace::AddressType) else {
            break;
        };
        let bytes = word.to_ne_bytes();
        let skip = (current - aligned) as usize;
        let take = (bytes.len() - skip).min(buffer.len() - copied);
        buffer[copied..copied + take].copy_from_slice(&bytes[skip..skip + take]);
        copied += take;
    }
    copied
}

/// Reads `length` bytes at `address`, or `None` if any of them is unreadable.
pub fn read_bytes(pid: Pid, address: u64, length: usize) -> Option<Vec<u8>> {
    let mut data = vec![0u8; length];
    let mut done = 0;
    while done < length {
        let current = address.checked_add(done as u64)?;
        let to_page_end = (PAGE_SIZE - current % PAGE_SIZE) as usize;
        let take = to_page_end.min(length - done);
        let count = read_chunk(pid, current, &mut data[done..done + take]);
        if count == 0 {
            return None;
        }
        done += count;
    }
    Some(data)
}

/// Writes the 8 bytes of `value` at `address` of a stopped tracee with
/// `process_vm_writev`, falling back to `PTRACE_PEEKDATA` and
/// `PTRACE_POKEDATA` on the one or two words they span.
pub fn write_u64(pid: Pid, address: u64, value: u64) -> nix::Result<()> {
    let bytes = value.to_ne_bytes();
    let remote = [RemoteIoVec {
        base: address as usize,
        len: bytes.len(),
    }];
    let local = [std::io::IoSlice::new(&bytes)];
    match process_vm_writev(pid, &local, &remote) {
        Ok(count) if count == bytes.len() => Ok(()),
        _ => poke_bytes(pid, address, &bytes),
    }
}

/// Writes `bytes` word by word, keeping the bytes around them.
fn poke_bytes(pid: Pid, address: u64, bytes: &[u8]) -> nix::Result<()> {
    const WORD: u64 = std::mem::size_of::<libc::c_long>() as u64;
    let mut written = 0;
    while written < bytes.len() {
        let current = address + written as u64;
        let aligned = current & !(WORD - 1);
        let word = ptrace::read(pid, aligned as ptrace::AddressType)?;
        let mut word_bytes = word.to_ne_bytes();
        let skip = (current - aligned) as usize;
        let take = (word_bytes.len() - skip).min(bytes.len() - written);
        word_bytes[skip..skip + take].copy_from_slice(&bytes[written..written + take]);
        let new_word = libc::c_long::from_ne_bytes(word_bytes);
        ptrace::write(pid, aligned as ptrace::AddressType, new_word)?;
        written += take;
    }
    Ok(())
}

/// Reads a NUL-terminated string of at most [`MAX_STRING`] bytes at
/// `address`. Returns `None` for a null pointer or unreadable memory.
pub fn read_string(pid: Pid, address: u64) -> Option<String> {
    read_c_string(pid, address, MAX_STRING).map(|(text, _)| text)
}

thread_local! {
    /// The buffer [`read_c_string`] reads each chunk into, allocated and
    /// zeroed once per thread instead of once per string.
    static CHUNK: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; PAGE_SIZE as usize].into_boxed_slice());
}

/// Reads a NUL-terminated string at `address`, keeping at most `limit`
/// bytes (cut at a character boundary). Returns the string and whether it
/// was cut, or `None` for a null pointer or unreadable memory.
pub fn read_c_string(pid: Pid, address: u64, limit: usize) -> Option<(String, bool)> {
    if address == 0 {
        return None;
    }
    CHUNK.with_borrow_mut(|chunk| read_string_with(pid, address, limit, chunk))
}

/// Reads a string as [`read_c_string`] does, through the page-sized
/// `chunk`. Most strings (paths, arguments) end in the first chunk, so they
/// cost one process_vm_readv and no allocation besides the returned string.
fn read_string_with(
    pid: Pid,
    address: u64,
    limit: usize,
    chunk: &mut [u8],
) -> Option<(String, bool)> {
    let mut data = Vec::new();
    let mut current = address;
    // Reading one byte past the limit separates a string of exactly `limit` bytes from a longer one.
    while data.len() <= limit {
        let to_page_end = (PAGE_SIZE - current % PAGE_SIZE) as usize;
        let take = to_page_end.min(limit + 1 - data.len());
        let count = read_chunk(pid, current, &mut chunk[..take]);
        if count == 0 {
            return None;
        }
        if let Some(end) = chunk[..count].iter().position(|&byte| byte == 0) {
            data.extend_from_slice(&chunk[..end]);
            return Some((into_string(data), false));
        }
        data.extend_from_slice(&chunk[..count]);
        current = current.checked_add(count as u64)?;
    }
    Some(cut_to_string(&data, limit))
}

/// Converts bytes to a string without copying them when they are UTF-8.
fn into_string(data: Vec<u8>) -> String {
    String::from_utf8(data)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Converts at most `limit` bytes of `bytes` to a string, cut at a character
/// boundary. Returns the string and whether it was cut.
pub fn cut_to_string(bytes: &[u8], limit: usize) -> (String, bool) {
    if bytes.len() <= limit {
        return (String::from_utf8_lossy(bytes).into_owned(), false);
    }
    let mut text = String::from_utf8_lossy(&bytes[..limit]).into_owned();
    let mut cut = text.len().min(limit);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_string_through_peek_fallback_shape() {
        // process_vm_readv on our own pid needs no ptrace relationship.
        let text = std::ffi::CString::new("hello world").unwrap();
        let pid = nix::unistd::getpid();
        let read = read_string(pid, text.as_ptr() as u64);
        assert_eq!(read.as_deref(), Some("hello world"));
    }

    #[test]
    fn null_pointer_reads_nothing() {
        assert_eq!(read_string(nix::unistd::getpid(), 0), None);
    }
}
