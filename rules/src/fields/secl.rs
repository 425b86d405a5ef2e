//! The names of SECL fields that sentrace does not produce, so that the
//! checker can tell a real SECL field it lacks (the rule is unsupported) from
//! a misspelt one (the rule is in error).
//!
//! The names come from the Linux field list that Datadog publishes with its
//! agent (`docs/cloud-workload-security/secl_linux.json` in the
//! datadog-agent repository) and from the fields that Datadog's default
//! policy uses. SECL builds most names from a few repeated parts: a process
//! context (`process.`, `process.parent.`, `exec.`, `ptrace.tracee.`, ...),
//! a file (`<event>.file.`, `process.file.`, `process.interpreter.file.`)
//! and per-event fields, so the table below is written as those parts.
//!
//! NOTE: event types that sentrace does not produce at all (`bpf`, `mmap`,
//! ...) are listed in the compiler, and any field under them counts as SECL.

/// Fields of a file, relative to `<...>.file.`.
const FILE_FIELDS: &[&str] = &[
    "change_time",
    "extension",
    "filesystem",
    "gid",
    "group",
    "hashes",
    "in_upper_layer",
    "inode",
    "mode",
    "modification_time",
    "mount_detached",
    "mount_id",
    "mount_path",
    "mount_source",
    "mount_visible",
    "name",
    "package.name",
    "package.source_version",
    "package.version",
    "path",
    "rights",
    "uid",
    "user",
];

/// Fields of a process context, relative to `process.`, `process.parent.`,
/// `exec.` and the other process prefixes. `file.*` and
/// `interpreter.file.*` are added from [`FILE_FIELDS`].
const PROCESS_FIELDS: &[&str] = &[
    "args",
    "args_flags",
    "args_options",
    "args_truncated",
    "argv",
    "argv0",
    "auid",
    "cap_effective",
    "cap_permitted",
    "cgroup.file.inode",
    "cgroup.file.mount_id",
    "cgroup.id",
    "cgroup.manager",
    "cgroup.version",
    "cmdline",
    "comm",
    "container.id",
    "created_at",
    "cwd",
    "egid",
    "egroup",
    "envp",
    "envs",
    "envs_truncated",
    "euid",
    "euser",
    "fsgid",
    "fsgroup",
    "fsuid",
    "fsuser",
    "gid",
    "group",
    "is_exec",
    "is_kworker",
    "is_thread",
    "pid",
    "ppid",
    "tid",
    "tty_name",
    "uid",
    "user",
    "user_session.id",
    "user_session.identity",
    "user_session.k8s_groups",
    "user_session.k8s_uid",
    "user_session.k8s_username",
    "user_session.session_type",
];

/// Prefixes after which a process context follows.
const PROCESS_PREFIXES: &[&str] = &[
    "process",
    "process.parent",
    "process.ancestors",
    "exec",
    "exit",
    "ptrace.tracee",
    "ptrace.tracee.parent",
    "ptrace.tracee.ancestors",
    "setrlimit.target",
    "setrlimit.target.parent",
    "setrlimit.target.ancestors",
    "signal.target",
    "signal.target.parent",
    "signal.target.ancestors",
];

/// Event types whose `<type>.file.*` is a file, with `<type>.retval`.
const FILE_EVENTS: &[&str] = &[
    "chdir",
    "chmod",
    "chown",
    "link",
    "load_module",
    "mkdir",
    "open",
    "rename",
    "rmdir",
    "unlink",
    "utimes",
];

/// Event types with `<type>.file.destination.*` as a second file.
const DESTINATION_EVENTS: &[&str] = &["link", "rename"];

/// Event types with `<type>.addr.*`.
const SOCKET_EVENTS: &[&str] = &["accept", "bind", "connect"];

/// Fields of a socket address, relative to `<type>.addr.`.
const ADDRESS_FIELDS: &[&str] = &["family", "hostname", "ip", "is_public", "port"];

/// Every other field, by full name.
const OTHER_FIELDS: &[&str] = &[
    "bind.protocol",
    "capset.cap_effective",
    "capset.cap_permitted",
    "cgroup.file.inode",
    "cgroup.file.mount_id",
    "cgroup.id",
    "cgroup.manager",
    "cgroup.version",
    "chdir.syscall.path",
    "chmod.file.destination.mode",
    "chmod.file.destination.rights",
    "chmod.syscall.mode",
    "chmod.syscall.path",
    "chown.file.destination.gid",
    "chown.file.destination.group",
    "chown.file.destination.uid",
    "chown.file.destination.user",
    "chown.syscall.gid",
    "chown.syscall.path",
    "chown.syscall.uid",
    "connect.protocol",
    "container.created_at",
    "container.id",
    "container.runtime",
    "container.tags",
    "dns.id",
    "dns.question.class",
    "dns.question.count",
    "dns.question.length",
    "dns.question.name",
    "dns.question.type",
    "dns.response.code",
    "event.async",
    "event.hostname",
    "event.origin",
    "event.os",
    "event.rule.tags",
    "event.service",
    "event.source",
    "event.timestamp",
    "exec.syscall.path",
    "exit.cause",
    "exit.code",
    "kernel.version.major",
    "kernel.version.minor",
    "kernel.version.patch",
    "link.syscall.destination.path",
    "link.syscall.path",
    "load_module.args",
    "load_module.args_truncated",
    "load_module.argv",
    "load_module.loaded_from_memory",
    "load_module.name",
    "mkdir.file.destination.mode",
    "mkdir.file.destination.rights",
    "mkdir.syscall.mode",
    "mkdir.syscall.path",
    "mount.detached",
    "mount.fs_type",
    "mount.mountpoint.path",
    "mount.retval",
    "mount.root.path",
    "mount.source.path",
    "mount.syscall.fs_type",
    "mount.syscall.mountpoint.path",
    "mount.syscall.source.path",
    "mount.visible",
    "network.destination.ip",
    "network.destination.is_public",
    "network.destination.port",
    "network.device.ifname",
    "network.l3_protocol",
    "network.l4_protocol",
    "network.network_direction",
    "network.size",
    "network.source.ip",
    "network.source.is_public",
    "network.source.port",
    "open.file.destination.mode",
    "open.flags",
    "open.syscall.flags",
    "open.syscall.mode",
    "open.syscall.path",
    "prctl.is_name_truncated",
    "prctl.new_name",
    "prctl.option",
    "prctl.retval",
    "process.ancestors.length",
    "ptrace.request",
    "ptrace.retval",
    "ptrace.tracee.ancestors.length",
    "rename.syscall.destination.path",
    "rename.syscall.path",
    "rmdir.syscall.path",
    "setgid.egid",
    "setgid.egroup",
    "setgid.fsgid",
    "setgid.fsgroup",
    "setgid.gid",
    "setgid.group",
    "setuid.euid",
    "setuid.euser",
    "setuid.fsuid",
    "setuid.fsuser",
    "setuid.uid",
    "setuid.user",
    "signal.target.ancestors.length",
    "unlink.flags",
    "unlink.syscall.dirfd",
    "unlink.syscall.flags",
    "unlink.syscall.path",
    "unload_module.name",
    "unload_module.retval",
    "utimes.syscall.path",
];

/// Returns true when `name` is a SECL field of the Linux agent, whether or
/// not sentrace produces it. `process.ancestors[A].x` counts as
/// `process.ancestors.x`, and a `.length` suffix is accepted on any field.
pub(crate) fn is_secl_field(name: &str) -> bool {
    let name = unbind(name);
    let base = name.strip_suffix(".length");
    is_listed(&name) || base.is_some_and(is_listed)
}

fn is_listed(name: &str) -> bool {
    if OTHER_FIELDS.contains(&name) {
        return true;
    }
    let process_field = PROCESS_PREFIXES.iter().any(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(is_process_field)
    });
    if process_field {
        return true;
    }
    let Some((event, rest)) = name.split_once('.') else {
        return false;
    };
    if rest == "retval" {
        return FILE_EVENTS.contains(&event) || SOCKET_EVENTS.contains(&event);
    }
    if let Some(field) = rest.strip_prefix("file.destination.") {
        return DESTINATION_EVENTS.contains(&event) && FILE_FIELDS.contains(&field);
    }
    if let Some(field) = rest.strip_prefix("file.") {
        return FILE_EVENTS.contains(&event) && FILE_FIELDS.contains(&field);
    }
    if let Some(field) = rest.strip_prefix("addr.") {
        return SOCKET_EVENTS.contains(&event) && ADDRESS_FIELDS.contains(&field);
    }
    false
}

fn is_process_field(rest: &str) -> bool {
    if PROCESS_FIELDS.contains(&rest) {
        return true;
    }
    let file = rest
        .strip_prefix("file.")
        .or_else(|| rest.strip_prefix("interpreter.file."));
    file.is_some_and(|field| FILE_FIELDS.contains(&field))
}

/// Rewrites `process.ancestors[A].x` to `process.ancestors.x`.
fn unbind(name: &str) -> String {
    match (name.find('['), name.find("].")) {
        (Some(open), Some(close)) if open < close => {
            format!("{}.{}", &name[..open], &name[close + 2..])
        }
        _ => name.to_string(),
    }
}

/// Returns the number of single-character edits (insert, delete, replace)
/// that turn `a` into `b`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, right) in b.iter().enumerate() {
            let replace = previous[j] + usize::from(left != *right);
            current[j + 1] = replace.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secl_fields_sentrace_lacks() {
        for name in [
            "connect.addr.hostname",
            "dns.response.code",
            "process.file.in_upper_layer",
            "process.is_kworker",
            "process.ancestors[A].file.in_upper_layer",
            "exec.interpreter.file.path",
            "open.file.inode",
            "rename.file.destination.in_upper_layer",
            "cgroup.id",
            "process.file.path.length",
        ] {
            assert!(is_secl_field(name), "{name}");
        }
    }

    #[test]
    fn misspelt_fields_are_not_secl() {
        for name in [
            "open.file.pth",
            "opne.file.path",
            "process.fle.path",
            "exec.file.nmae",
            "connect.addr.prt",
            "open.file.destination.path",
        ] {
            assert!(!is_secl_field(name), "{name}");
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("open.file.pth", "open.file.path"), 1);
        assert_eq!(edit_distance("opne", "open"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
