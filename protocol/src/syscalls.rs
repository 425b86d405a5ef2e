//! Which syscalls produce which event types.
//!
//! The probe sends a tracer the names of the syscalls its rules need; the
//! tracer maps them to numbers for its architecture. Names are the kernel's
//! x86_64 names; on aarch64 the tracer skips names that do not exist there
//! (`open`, `fork`, ...).

use crate::event::EventKind;

/// Syscalls that produce events of `kind`, by kernel name.
pub fn syscalls_for(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Exec => &["execve", "execveat"],
        EventKind::Fork => &["fork", "vfork", "clone", "clone3"],
        // Process exits are seen through ptrace exit stops, not syscalls.
        EventKind::Exit => &[],
        // open_by_handle_at opens by handle; truncate writes a file by path.
        EventKind::Open => &[
            "open",
            "openat",
            "openat2",
            "creat",
            "open_by_handle_at",
            "truncate",
        ],
        EventKind::Unlink => &["unlink", "unlinkat"],
        EventKind::Rename => &["rename", "renameat", "renameat2"],
        EventKind::Mkdir => &["mkdir", "mkdirat"],
        EventKind::Rmdir => &["rmdir", "unlinkat"],
        EventKind::Chmod => &["chmod", "fchmod", "fchmodat", "fchmodat2"],
        EventKind::Chown => &["chown", "fchown", "lchown", "fchownat"],
        EventKind::Link => &["link", "linkat"],
        EventKind::Symlink => &["symlink", "symlinkat"],
        EventKind::Utimes => &["utime", "utimes", "utimensat", "futimesat"],
        EventKind::Setuid => &["setuid", "setreuid", "setresuid", "setfsuid"],
        EventKind::Setgid => &["setgid", "setregid", "setresgid", "setfsgid"],
        EventKind::Capset => &["capset"],
        EventKind::LoadModule => &["init_module", "finit_module"],
        EventKind::UnloadModule => &["delete_module"],
        EventKind::Mount => &["mount", "fsmount", "move_mount"],
        EventKind::Umount => &["umount2"],
        EventKind::Bind => &["bind"],
        EventKind::Connect => &["connect"],
        EventKind::Accept => &["accept", "accept4"],
        EventKind::Ptrace => &["ptrace"],
        EventKind::Chdir => &["chdir", "fchdir"],
        EventKind::Prctl => &["prctl"],
        EventKind::MemfdCreate => &["memfd_create"],
        EventKind::IoUring => &["io_uring_setup"],
        // A resolver sends to port 53 after a connect (glibc) or with
        // sendto and a destination (musl). The tracer then follows that
        // thread's sends and receives until the lookup ends.
        EventKind::Dns => &["connect", "sendto"],
        // Foreign-ABI syscalls are routed by the filter's architecture check.
        EventKind::ForeignAbi => &[],
        EventKind::Lost => &[],
        EventKind::Signal => &[
            "kill",
            "tkill",
            "tgkill",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "pidfd_send_signal",
        ],
    }
}

/// Syscalls the tracer always traces, whatever the rules need, because it
/// cannot follow processes without them.
pub const ALWAYS_TRACED: &[&str] = &["execve", "execveat", "fork", "vfork", "clone", "clone3"];

/// Returns the sorted, de-duplicated syscall names for a set of event types,
/// plus [`ALWAYS_TRACED`].
pub fn syscalls_for_kinds(kinds: impl IntoIterator<Item = EventKind>) -> Vec<String> {
    let mut names: Vec<String> = ALWAYS_TRACED.iter().map(|name| name.to_string()).collect();
    for kind in kinds {
        names.extend(syscalls_for(kind).iter().map(|name| name.to_string()));
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_kind_needs_openat() {
        let names = syscalls_for_kinds([EventKind::Open]);
        assert!(names.contains(&"openat".to_string()));
        assert!(names.contains(&"execve".to_string()));
        assert!(!names.contains(&"connect".to_string()));
    }

    #[test]
    fn names_are_sorted_and_unique() {
        let names = syscalls_for_kinds(EventKind::ALL);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
