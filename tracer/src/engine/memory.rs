//! Reading tracee memory.
//!
//! `process_vm_readv` reads one page-bounded chunk at a time, so that a
//! string which ends just before an unmapped page is read in full: a read
//! across the boundary would fail as a whole. When `process_vm_readv` is
//! refused (EPERM in containers without `SYS_PTRACE` after the tracee changed
//! uid, ENOSYS on old kernels), `PTRACE_PEEKDATA` reads word by word.

use std::io::IoSliceMut;

use nix::sys::ptrace;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

const PAGE_SIZE: u64 = 4096;

/// Maximum length of a string the engine reads (`PATH_MAX`).
pub const MAX_STRING: usize = 4096;

/// Most argv or envp entries read for one exec.
pub const MAX_ARRAY: usize = 1024;

/// Maximum number of argv or envp pointers read in one call.
const POINTER_BATCH: usize = 64;

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

/// Reads a NUL-terminated string of at most [`MAX_STRING`] bytes at
/// `address`. Returns `None` for a null pointer or unreadable memory.
pub fn read_string(pid: Pid, address: u64) -> Option<String> {
    if address == 0 {
        return None;
    }
    CHUNK.with_borrow_mut(|chunk| read_string_with(pid, address, chunk))
}

thread_local! {
    /// The buffer [`read_string`] reads each chunk into, allocated and zeroed
    /// once per thread instead of once per string.
    static CHUNK: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; PAGE_SIZE as usize].into_boxed_slice());
}

/// Reads a string as [`read_string`] does, through the page-sized `chunk`.
/// Most strings (paths, arguments) end in the first chunk, so they cost one
/// process_vm_readv and no allocation besides the returned string.
fn read_string_with(pid: Pid, address: u64, chunk: &mut [u8]) -> Option<String> {
    let mut data = Vec::new();
    let mut current = address;
    while data.len() < MAX_STRING {
        let to_page_end = (PAGE_SIZE - current % PAGE_SIZE) as usize;
        let take = to_page_end.min(MAX_STRING - data.len());
        let count = read_chunk(pid, current, &mut chunk[..take]);
        if count == 0 {
            return None;
        }
        if let Some(end) = chunk[..count].iter().position(|&byte| byte == 0) {
            data.extend_from_slice(&chunk[..end]);
            return Some(into_string(data));
        }
        data.extend_from_slice(&chunk[..count]);
        current = current.checked_add(count as u64)?;
    }
    Some(into_string(data))
}

/// Converts bytes to a string without copying them when they are UTF-8.
fn into_string(data: Vec<u8>) -> String {
    String::from_utf8(data)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Reads a NULL-terminated array of string pointers (argv, envp) of pointer
/// width `pointer_size` (8, or 4 for i386). The pointers are read up to
/// [`POINTER_BATCH`] at a time, so that an exec with 60 environment
/// variables costs two reads for the array instead of 61.
pub fn read_string_array(pid: Pid, address: u64, pointer_size: usize) -> Vec<String> {
    let mut strings = Vec::new();
    if address == 0 {
        return strings;
    }
    while strings.len() < MAX_ARRAY {
        let Some(slot) = address.checked_add((strings.len() * pointer_size) as u64) else {
            break;
        };
        let to_page_end = (PAGE_SIZE - slot % PAGE_SIZE) as usize;
        let slots = POINTER_BATCH.min(MAX_ARRAY - strings.len());
        let mut length = to_page_end.min(slots * pointer_size);
        length -= length % pointer_size;
        if length == 0 {
            // A misaligned pointer that straddles a page boundary.
            length = pointer_size;
        }
        let Some(raw) = read_bytes(pid, slot, length) else {
            break;
        };
        for bytes in raw.chunks_exact(pointer_size) {
            let pointer = if pointer_size == 4 {
                u64::from(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            } else {
                u64::from_ne_bytes(bytes.try_into().unwrap_or_default())
            };
            if pointer == 0 {
                return strings;
            }
            strings.push(read_string(pid, pointer).unwrap_or_default());
        }
    }
    strings
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
    fn reads_string_across_page_boundary() {
        // A string that starts 5 bytes before a page boundary is read in two chunks.
        let mut buffer = vec![b'x'; 3 * PAGE_SIZE as usize];
        let start = buffer.as_ptr() as u64;
        let boundary = (start / PAGE_SIZE + 1) * PAGE_SIZE;
        let offset = (boundary - start - 5) as usize;
        buffer[offset + 12] = 0;
        let pid = nix::unistd::getpid();
        let read = read_string(pid, start + offset as u64);
        assert_eq!(read.as_deref(), Some("xxxxxxxxxxxx"));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let text = [b'a', 0xff, b'b', 0];
        let read = read_string(nix::unistd::getpid(), text.as_ptr() as u64);
        assert_eq!(read.as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn reads_string_arrays_longer_than_a_batch() {
        let texts: Vec<std::ffi::CString> = (0..150)
            .map(|index| std::ffi::CString::new(format!("entry{index}")).unwrap())
            .collect();
        let mut pointers: Vec<u64> = texts.iter().map(|text| text.as_ptr() as u64).collect();
        pointers.push(0);
        let pid = nix::unistd::getpid();
        let read = read_string_array(pid, pointers.as_ptr() as u64, 8);
        assert_eq!(read.len(), 150);
        assert_eq!(read[0], "entry0");
        assert_eq!(read[149], "entry149");
    }

    #[test]
    fn reads_32_bit_string_arrays() {
        // SAFETY: this maps one anonymous private page that no other code
        // refers to. MAP_32BIT places it below 2 GiB, so its addresses fit
        // 32-bit pointers. It is unmapped below.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        let base = page as u64;
        // SAFETY: the mapping is one writable page and every write below
        // stays within its first 32 bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(page.cast::<u8>(), 32) };
        bytes[16..20].copy_from_slice(b"abc\0");
        bytes[20..23].copy_from_slice(b"d\0\0");
        bytes[0..4].copy_from_slice(&((base + 16) as u32).to_ne_bytes());
        bytes[4..8].copy_from_slice(&((base + 20) as u32).to_ne_bytes());
        bytes[8..12].copy_from_slice(&0u32.to_ne_bytes());

        let read = read_string_array(nix::unistd::getpid(), base, 4);
        // SAFETY: unmaps the page mapped above; `bytes` is not used after it.
        unsafe { libc::munmap(page, PAGE_SIZE as usize) };
        assert_eq!(read, vec!["abc".to_string(), "d".to_string()]);
    }

    #[test]
    fn null_pointer_reads_nothing() {
        assert_eq!(read_string(nix::unistd::getpid(), 0), None);
    }
}
