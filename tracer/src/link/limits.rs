//! Size bounds on the argument and environment lists an event carries to the
//! probe.
//!
//! A process may have up to `ARG_MAX` (a quarter of its stack limit, 2 MiB or
//! more) of arguments and environment, while a frame carries at most
//! [`protocol::MAX_FRAME_LEN`] bytes. An event that did not fit would be lost
//! and with it every detection on that process, so lists are cut to bounds
//! that fit many events into one frame. The hello's entrypoint and the
//! snapshot's processes get the same bounds.

use protocol::{Event, EventBody};

/// Maximum length of one argument or environment entry, in bytes.
pub(crate) const MAX_ENTRY_BYTES: usize = 4096;
/// Maximum length of one list, over all its entries, in bytes.
pub(crate) const MAX_LIST_BYTES: usize = 64 * 1024;

/// Returns what an entry of `length` bytes costs against [`MAX_LIST_BYTES`]:
/// its bytes and its terminating NUL, as the kernel counts `ARG_MAX`, so
/// that a list of empty entries is bounded too.
pub(crate) fn list_cost(length: usize) -> usize {
    length + 1
}

/// Cuts `process.argv`, `exec.argv` and `exec.envp` to the bounds above.
pub(crate) fn bound_event(mut event: Event) -> Event {
    bound_list(&mut event.process.argv);
    if let EventBody::Exec { exec } = &mut event.body {
        exec.args_truncated |= bound_list(&mut exec.argv);
        exec.envs_truncated |= bound_list(&mut exec.envp);
    }
    event
}

/// Truncates long entries at a character boundary, then drops the entries
/// past [`MAX_LIST_BYTES`]. The first entries are kept because rules match on
/// the program name and its leading options. Returns true when it cut the
/// list.
pub(crate) fn bound_list(list: &mut Vec<String>) -> bool {
    let mut cut_entry = false;
    let mut total = 0;
    for (index, entry) in list.iter_mut().enumerate() {
        if entry.len() > MAX_ENTRY_BYTES {
            let mut cut = MAX_ENTRY_BYTES;
            while !entry.is_char_boundary(cut) {
                cut -= 1;
            }
            entry.truncate(cut);
            cut_entry = true;
        }
        total += list_cost(entry.len());
        if total > MAX_LIST_BYTES {
            list.truncate(index);
            return true;
        }
    }
    cut_entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExecEvent, Process};

    fn exec_event(argv: Vec<String>) -> Event {
        Event {
            timestamp: String::new(),
            process: Process {
                argv: argv.clone(),
                ..Process::default()
            },
            body: EventBody::Exec {
                exec: ExecEvent {
                    argv,
                    ..ExecEvent::default()
                },
            },
        }
    }

    #[test]
    fn huge_argument_list_fits_a_frame() {
        let argv: Vec<String> = (0..2000).map(|_| "x".repeat(1000)).collect();
        let event = bound_event(exec_event(argv));
        let size = serde_json::to_vec(&event).unwrap().len();
        assert!(size < protocol::MAX_FRAME_LEN / 4, "event is {size} bytes");
        assert!(event.process.argv.len() >= 60);
    }

    #[test]
    fn long_entry_is_cut_at_char_boundary() {
        let entry = "é".repeat(MAX_ENTRY_BYTES);
        let event = bound_event(exec_event(vec!["sh".into(), entry]));
        let EventBody::Exec { exec } = &event.body else {
            panic!("not an exec event");
        };
        assert_eq!(exec.argv[0], "sh");
        assert!(exec.argv[1].len() <= MAX_ENTRY_BYTES);
        assert!(exec.argv[1].chars().all(|c| c == 'é'));
    }

    #[test]
    fn small_lists_are_unchanged() {
        let argv = vec!["cat".to_string(), "/etc/shadow".to_string()];
        let event = bound_event(exec_event(argv.clone()));
        assert_eq!(event.process.argv, argv);
    }
}
