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
//! # Limitations
//!
//! - The lists are read at the syscall's entry stop, before the kernel
//!   copies them. A sibling thread that rewrites the strings in between
//!   makes the event show other arguments than the program received.
//!   TODO: read them from `/proc/PID/cmdline` and `/proc/PID/environ` at
//!   `PTRACE_EVENT_EXEC`, where they are the kernel's copy.

use nix::unistd::Pid;

use super::memory::{read_bytes, read_c_string};
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

/// Reads the pointer at index `index` of the array at `address`. Returns
/// `None` at the terminating NULL or at unreadable memory.
fn pointer_at(pid: Pid, address: u64, index: usize, pointer_size: usize) -> Option<u64> {
    let offset = u64::try_from(index.checked_mul(pointer_size)?).ok()?;
    let raw = read_bytes(pid, address.checked_add(offset)?, pointer_size)?;
    let pointer = if pointer_size == 4 {
        u64::from(u32::from_ne_bytes(raw[..4].try_into().ok()?))
    } else {
        u64::from_ne_bytes(raw[..8].try_into().ok()?)
    };
    (pointer != 0).then_some(pointer)
}

/// Reads a NULL-terminated argv array of `pointer_size` pointers (8, or 4
/// for i386) within the bounds.
pub fn read_arguments(pid: Pid, address: u64, pointer_size: usize) -> BoundedList {
    let mut list = BoundedList::default();
    if address == 0 {
        return list;
    }
    let mut total = 0;
    let mut index = 0;
    while let Some(pointer) = pointer_at(pid, address, index, pointer_size) {
        let (entry, cut) = read_c_string(pid, pointer, MAX_ENTRY_BYTES).unwrap_or_default();
        total += list_cost(entry.len());
        if total > MAX_LIST_BYTES {
            list.truncated = true;
            break;
        }
        list.truncated |= cut;
        list.entries.push(entry);
        index += 1;
    }
    list
}

/// Reads a NULL-terminated envp array within the bounds, keeping names only
/// except for [`ENV_VALUE_ALLOW_LIST`].
pub fn read_environment(pid: Pid, address: u64, pointer_size: usize) -> BoundedList {
    let mut list = BoundedList::default();
    if address == 0 {
        return list;
    }
    let mut total = 0;
    let mut kept_values: Vec<&str> = Vec::new();
    let mut index = 0;
    while let Some(pointer) = pointer_at(pid, address, index, pointer_size) {
        index += 1;
        let (head, head_cut) = read_c_string(pid, pointer, ENV_NAME_BYTES).unwrap_or_default();
        let name = head.split('=').next().unwrap_or_default();
        let allowed = ENV_VALUE_ALLOW_LIST
            .iter()
            .find(|allowed| **allowed == name);
        let (entry, cut) = match allowed {
            Some(_) => read_c_string(pid, pointer, MAX_ENTRY_BYTES).unwrap_or_default(),
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
