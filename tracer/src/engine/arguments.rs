//! Reading the argument and environment lists of an exec within bounds.
//!
//! A process may pass megabytes of arguments and environment to execve.
//! Reading them whole would slow every exec of such a process and put them
//! whole into every event. So the engine reads at most
//! [`MAX_ENTRY_BYTES`] of each entry and [`MAX_LIST_BYTES`] of each list
//! (the bounds the probe link applies too) and marks a cut list as
//! truncated, as SECL's `exec.args_truncated` and `exec.envs_truncated` do.
//!
//! The environment keeps only variable names, plus the values of an
//! allow-list. Its bound applies after that filter, and the first entry of
//! each allow-listed variable is kept even past the bound, so that junk
//! variables placed first cannot push `LD_PRELOAD` out of the event.
//!
//! # Where the lists come from
//!
//! - An exec event takes its lists from `/proc/PID/cmdline` and
//!   `/proc/PID/environ` at `PTRACE_EVENT_EXEC`, where they are the
//!   kernel's copy, because a sibling thread can rewrite the strings between
//!   the entry stop and the kernel's copy.
//! - The engine reads the lists from tracee memory at the entry stop only
//!   when a deny gate has rules on exec events, because the gate decides
//!   before the kernel copies them.
//! - Where `/proc` is unreadable at `PTRACE_EVENT_EXEC` (a tracer without
//!   `SYS_PTRACE` and a workload that changed its uid), the event takes the
//!   lists from the new program's stack ([`stack_lists`]), which is the
//!   kernel's copy too, and else keeps the lists read at entry, if any.

use nix::unistd::Pid;

use super::memory::{cut_to_string, read_bytes, read_c_string, PAGE_SIZE};
use super::procfs::with_proc_file;
use crate::link::limits::{list_cost, MAX_ENTRY_BYTES, MAX_LIST_BYTES};

/// Environment variables whose values an exec event keeps; for the others
/// only the name is reported.
pub const ENV_VALUE_ALLOW_LIST: &[&str] =
    &["LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "HOME", "SHELL"];

/// Bytes read of an environment entry before its name is known: enough for
/// any allow-listed name and its `=`, and for most other names.
const ENV_NAME_BYTES: usize = 256;

/// A list read from tracee memory, and whether the bounds cut it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundedList {
    /// The entries that were read.
    pub entries: Vec<String>,
    /// True when an entry was cut or entries were left out.
    pub truncated: bool,
}

/// Most pointers of an argv or envp array read in one call, so that an
/// exec with 60 environment variables costs two reads for the array
/// instead of 61.
const POINTER_BATCH: usize = 64;

/// The pointers of a NULL-terminated array in tracee memory, read a batch
/// at a time. Ends at the NULL or at unreadable memory.
struct Pointers {
    pid: Pid,
    next: u64,
    pointer_size: usize,
    batch: std::vec::IntoIter<u64>,
    ended: bool,
}

impl Pointers {
    fn new(pid: Pid, address: u64, pointer_size: usize) -> Self {
        Pointers {
            pid,
            next: address,
            pointer_size,
            batch: Vec::new().into_iter(),
            ended: address == 0,
        }
    }

    /// Reads the pointers up to the end of the page or of the batch.
    fn refill(&mut self) {
        let to_page_end = (PAGE_SIZE - self.next % PAGE_SIZE) as usize;
        let mut length = to_page_end.min(POINTER_BATCH * self.pointer_size);
        length -= length % self.pointer_size;
        if length == 0 {
            // A misaligned pointer that straddles a page boundary.
            length = self.pointer_size;
        }
        let Some(raw) = read_bytes(self.pid, self.next, length) else {
            self.ended = true;
            return;
        };
        let mut pointers = Vec::with_capacity(length / self.pointer_size);
        for bytes in raw.chunks_exact(self.pointer_size) {
            let pointer = match *bytes {
                [a, b, c, d] => u64::from(u32::from_ne_bytes([a, b, c, d])),
                _ => u64::from_ne_bytes(bytes.try_into().unwrap_or_default()),
            };
            if pointer == 0 {
                self.ended = true;
                break;
            }
            pointers.push(pointer);
        }
        match self.next.checked_add(length as u64) {
            Some(next) => self.next = next,
            None => self.ended = true,
        }
        self.batch = pointers.into_iter();
    }
}

impl Iterator for Pointers {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if let Some(pointer) = self.batch.next() {
                return Some(pointer);
            }
            if self.ended {
                return None;
            }
            self.refill();
        }
    }
}

/// Returns readers of the strings a NULL-terminated pointer array at
/// `address` points to. A reader returns at most `limit` bytes of its
/// string and whether it cut it.
fn memory_entries(
    pid: Pid,
    address: u64,
    pointer_size: usize,
) -> impl Iterator<Item = impl Fn(usize) -> (String, bool)> {
    Pointers::new(pid, address, pointer_size)
        .map(move |pointer| move |limit| read_c_string(pid, pointer, limit).unwrap_or_default())
}

/// Returns readers of the NUL-separated entries of a `/proc/PID/cmdline` or
/// `/proc/PID/environ` file.
fn proc_entries(raw: &[u8]) -> impl Iterator<Item = impl Fn(usize) -> (String, bool) + '_> {
    // The kernel ends every entry with a NUL, so the last split part is empty.
    let body = raw.strip_suffix(&[0]).unwrap_or(raw);
    (!raw.is_empty())
        .then(|| body.split(|&byte| byte == 0))
        .into_iter()
        .flatten()
        .map(|part| move |limit| cut_to_string(part, limit))
}

/// Reads a NULL-terminated argv array of `pointer_size` pointers (8, or 4
/// for i386) within the bounds.
pub fn read_arguments(pid: Pid, address: u64, pointer_size: usize) -> BoundedList {
    bound_arguments(memory_entries(pid, address, pointer_size))
}

/// Reads a NULL-terminated envp array within the bounds, keeping names only
/// except for [`ENV_VALUE_ALLOW_LIST`].
pub fn read_environment(pid: Pid, address: u64, pointer_size: usize) -> BoundedList {
    bound_environment(memory_entries(pid, address, pointer_size))
}

/// Makes the bounded argument list of an exec event of the bytes of
/// `/proc/PID/cmdline`. Right after an exec they are the kernel's copy,
/// which no other thread can change.
pub fn cmdline_arguments(raw: &[u8]) -> BoundedList {
    bound_arguments(proc_entries(raw))
}

/// Reads the environment of process `pid` from `/proc/PID/environ` within
/// the bounds, as [`read_environment`] filters it.
pub fn proc_environment(pid: u32) -> Option<BoundedList> {
    with_proc_file(&format!("/proc/{pid}/environ"), |raw| {
        bound_environment(proc_entries(raw))
    })
}

/// Reads the argument and environment lists of a process stopped at
/// `PTRACE_EVENT_EXEC` from its stack, where the new program has not run
/// yet. At `stack` the kernel placed argc, the argv pointers, a NULL, the
/// envp pointers and a NULL, each `pointer_size` bytes (8, or 4 for
/// i386). Returns `None` when argc is unreadable.
pub fn stack_lists(
    pid: Pid,
    stack: u64,
    pointer_size: usize,
) -> Option<(BoundedList, BoundedList)> {
    let raw = read_bytes(pid, stack, pointer_size)?;
    let argc = match *raw {
        [a, b, c, d] => u64::from(u32::from_ne_bytes([a, b, c, d])),
        _ => u64::from_ne_bytes(raw.as_slice().try_into().ok()?),
    };
    let size = pointer_size as u64;
    let argv = stack.checked_add(size)?;
    let envp = argc
        .checked_add(1)
        .and_then(|count| count.checked_mul(size))
        .and_then(|length| argv.checked_add(length))?;
    Some((
        read_arguments(pid, argv, pointer_size),
        read_environment(pid, envp, pointer_size),
    ))
}

/// Keeps entries until the list's bound; each entry is cut to its own.
fn bound_arguments<R: Fn(usize) -> (String, bool)>(
    entries: impl Iterator<Item = R>,
) -> BoundedList {
    let mut list = BoundedList::default();
    let mut total = 0;
    for read in entries {
        let (entry, cut) = read(MAX_ENTRY_BYTES);
        total += list_cost(entry.len());
        if total > MAX_LIST_BYTES {
            list.truncated = true;
            break;
        }
        list.truncated |= cut;
        list.entries.push(entry);
    }
    list
}

/// Keeps variable names, and the values of the allow-list, until the
/// list's bound, and the first entry of each allow-listed name past it.
fn bound_environment<R: Fn(usize) -> (String, bool)>(
    entries: impl Iterator<Item = R>,
) -> BoundedList {
    let mut list = BoundedList::default();
    let mut total = 0;
    let mut kept_values: Vec<&str> = Vec::new();
    for read in entries {
        let (head, head_cut) = read(ENV_NAME_BYTES);
        let name = head.split('=').next().unwrap_or_default();
        let allowed = ENV_VALUE_ALLOW_LIST
            .iter()
            .find(|allowed| **allowed == name);
        let (entry, cut) = match allowed {
            Some(_) => read(MAX_ENTRY_BYTES),
            // A cut head contains the whole name unless it has no `=`.
            None => (name.to_string(), head_cut && !head.contains('=')),
        };
        let cost = list_cost(entry.len());
        let first_of_name = allowed.is_some_and(|allowed| !kept_values.contains(allowed));
        if total + cost > MAX_LIST_BYTES && !first_of_name {
            list.truncated = true;
            continue;
        }
        if let Some(allowed) = allowed {
            kept_values.push(allowed);
        }
        total += cost;
        list.truncated |= cut;
        list.entries.push(entry);
    }
    list
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;

    /// Builds a NULL-terminated pointer array over `strings` in this process.
    fn pointer_array(strings: &[CString]) -> Vec<u64> {
        let mut pointers: Vec<u64> = strings.iter().map(|s| s.as_ptr() as u64).collect();
        pointers.push(0);
        pointers
    }

    #[test]
    fn proc_entries_split_at_nul() {
        let read: Vec<(String, bool)> = proc_entries(b"sh\0-c\0\0").map(|read| read(2)).collect();
        assert_eq!(
            read,
            [
                ("sh".into(), false),
                ("-c".into(), false),
                (String::new(), false)
            ]
        );
        let cut: Vec<(String, bool)> = proc_entries(b"abc\0").map(|read| read(2)).collect();
        assert_eq!(cut, [("ab".into(), true)]);
        assert_eq!(proc_entries(b"").count(), 0);
    }

    #[test]
    fn own_arguments_from_proc() {
        let list = with_proc_file("/proc/self/cmdline", cmdline_arguments).unwrap();
        let argv: Vec<String> = std::env::args().collect();
        assert_eq!(list.entries, argv);
    }

    #[test]
    fn environment_keeps_allowed_values_only() {
        let strings = [
            CString::new("PATH=/bin").unwrap(),
            CString::new("SECRET=1").unwrap(),
        ];
        let pointers = pointer_array(&strings);
        let list = read_environment(nix::unistd::getpid(), pointers.as_ptr() as u64, 8);
        assert_eq!(list.entries, ["PATH=/bin", "SECRET"]);
        assert!(!list.truncated);
    }

    #[test]
    fn long_argument_list_is_bounded() {
        let strings: Vec<CString> = (0..100)
            .map(|_| CString::new("a".repeat(5000)).unwrap())
            .collect();
        let pointers = pointer_array(&strings);
        let list = read_arguments(nix::unistd::getpid(), pointers.as_ptr() as u64, 8);
        assert!(list.truncated);
        assert!(list.entries.iter().all(|e| e.len() == MAX_ENTRY_BYTES));
        let total: usize = list.entries.iter().map(|e| list_cost(e.len())).sum();
        assert!(total <= MAX_LIST_BYTES, "{total} bytes");
        assert_eq!(list.entries.len(), MAX_LIST_BYTES / (MAX_ENTRY_BYTES + 1));
    }

    #[test]
    fn short_argument_list_is_whole() {
        let strings = [CString::new("cat").unwrap(), CString::new("/x").unwrap()];
        let pointers = pointer_array(&strings);
        let list = read_arguments(nix::unistd::getpid(), pointers.as_ptr() as u64, 8);
        assert_eq!(list.entries, ["cat", "/x"]);
        assert!(!list.truncated);
    }

    #[test]
    fn lists_from_exec_stack() {
        let strings = [
            CString::new("ls").unwrap(),
            CString::new("-l").unwrap(),
            CString::new("HOME=/root").unwrap(),
            CString::new("TOKEN=secret").unwrap(),
        ];
        let pointer = |index: usize| strings[index].as_ptr() as u64;
        let stack = [2, pointer(0), pointer(1), 0, pointer(2), pointer(3), 0];
        let pid = nix::unistd::getpid();
        let (argv, envp) = stack_lists(pid, stack.as_ptr() as u64, 8).unwrap();
        assert_eq!(argv.entries, ["ls", "-l"]);
        assert_eq!(envp.entries, ["HOME=/root", "TOKEN"]);
        assert!(!argv.truncated);
        assert!(!envp.truncated);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn lists_from_i386_exec_stack() {
        // 32-bit pointers need memory in the first 4 GiB.
        // SAFETY: an anonymous private mapping, unmapped at the end.
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
        // SAFETY: the mapping is PAGE_SIZE writable bytes.
        let memory =
            unsafe { std::slice::from_raw_parts_mut(page.cast::<u8>(), PAGE_SIZE as usize) };
        memory[64..69].copy_from_slice(b"true\0");
        memory[80..90].copy_from_slice(b"PATH=/bin\0");
        let stack: [u32; 5] = [1, base as u32 + 64, 0, base as u32 + 80, 0];
        for (index, word) in stack.iter().enumerate() {
            memory[index * 4..index * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        let lists = stack_lists(nix::unistd::getpid(), base, 4);
        // SAFETY: `page` is the mapping made above, no longer borrowed.
        unsafe { libc::munmap(page, PAGE_SIZE as usize) };
        let (argv, envp) = lists.unwrap();
        assert_eq!(argv.entries, ["true"]);
        assert_eq!(envp.entries, ["PATH=/bin"]);
    }

    #[test]
    fn stack_lists_of_unreadable_stack() {
        assert!(stack_lists(nix::unistd::getpid(), 8, 8).is_none());
    }

    #[test]
    fn preload_after_junk_variables_is_kept() {
        let mut strings: Vec<CString> = (0..20000)
            .map(|index| CString::new(format!("JUNK{index}=1")).unwrap())
            .collect();
        strings.push(CString::new("LD_PRELOAD=/tmp/evil.so").unwrap());
        strings.push(CString::new("LD_PRELOAD=/tmp/second.so").unwrap());
        let pointers = pointer_array(&strings);
        let list = read_environment(nix::unistd::getpid(), pointers.as_ptr() as u64, 8);
        assert!(list.truncated);
        assert_eq!(list.entries.last().unwrap(), "LD_PRELOAD=/tmp/evil.so");
        assert!(!list
            .entries
            .contains(&"LD_PRELOAD=/tmp/second.so".to_string()));
        assert!(list.entries.len() < 20000);
    }
}
