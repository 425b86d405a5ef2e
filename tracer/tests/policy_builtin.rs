//! Every rule of the built-in policy, triggered by a real command under the
//! tracer, and not triggered by a benign neighbour of that command.
//!
//! Commands are safe to run as root. Files below system directories are
//! created and removed at once, and sensitive files are opened for writing
//! without being written. Module loads and mounts use arguments the kernel
//! rejects. The metadata address is reached only from a new network
//! namespace that has no route, so the connect fails with ENETUNREACH.

mod policy_support;

use std::collections::BTreeSet;
use std::path::Path;

use policy_support::{matched_rules, run_command, scratch_dir, trace_command};
use rules::Policy;

/// One rule, a command that triggers it and a similar command that does not.
/// `{dir}` is replaced by a scratch directory and `{enter_container}` by
/// commands that move the shell into a cgroup named like a Docker container.
struct Case {
    rule: &'static str,
    trigger: &'static str,
    benign: &'static str,
}

/// Opens a file for writing without writing to it, ignoring errors.
macro_rules! open_for_write {
    ($path:literal) => {
        concat!(
            "/usr/bin/python3 -c \"import os\ntry: os.close(os.open('",
            $path,
            "', os.O_WRONLY | os.O_APPEND))\nexcept OSError: pass\""
        )
    };
}

/// Calls a libc function through ctypes.
macro_rules! libc_call {
    ($call:literal) => {
        concat!(
            "/usr/bin/python3 -c 'import ctypes; libc = ctypes.CDLL(None); libc.",
            $call,
            "'"
        )
    };
}

/// Starts `sleep`, makes a ptrace request on it, and kills it.
macro_rules! ptrace_request {
    ($request:literal) => {
        concat!(
            "/usr/bin/python3 -c 'import ctypes, subprocess; child = subprocess.Popen([\"sleep\", \"5\"]); ",
            "ctypes.CDLL(None).ptrace(",
            $request,
            ", child.pid, 0, 0); child.kill(); child.wait()'"
        )
    };
}

const CASES: &[Case] = &[
    Case { rule: "credential_shadow_read", trigger: "cat /etc/shadow > /dev/null", benign: "cat /etc/passwd > /dev/null" },
    Case {
        rule: "credential_ssh_private_key_read",
        trigger: "cat /root/.ssh/id_sentrace_test 2>/dev/null; true",
        benign: "cat /root/.ssh/id_sentrace_test.pub 2>/dev/null; true",
    },
    Case {
        rule: "credential_cloud_file_read",
        trigger: "cat /root/.aws/credentials 2>/dev/null; true",
        benign: "cat /root/.aws/config 2>/dev/null; true",
    },
    Case {
        rule: "shell_spawned_by_interpreter",
        trigger: "/usr/bin/python3 -c 'import os; os.system(\"true\")'",
        benign: "/usr/bin/python3 -c 'import subprocess; subprocess.run([\"/bin/true\"])'",
    },
    Case {
        rule: "shell_spawned_by_web_server",
        trigger: "cp /bin/sh {dir}/nginx && {dir}/nginx -c 'sh -c true; true'",
        benign: "cp /bin/sh {dir}/webapp && {dir}/webapp -c 'sh -c true; true'",
    },
    Case {
        rule: "system_binary_written",
        trigger: "touch /usr/local/bin/sentrace-test-$$ && rm -f /usr/local/bin/sentrace-test-$$",
        benign: "touch {dir}/file",
    },
    Case {
        rule: "system_library_written",
        trigger: "touch /usr/local/lib/sentrace-test-$$ && rm -f /usr/local/lib/sentrace-test-$$",
        benign: "cat /usr/lib/os-release > /dev/null",
    },
    Case {
        rule: "etc_file_written",
        trigger: "echo x > /etc/sentrace-test-$$ && rm -f /etc/sentrace-test-$$",
        benign: "cat /etc/hostname > /dev/null",
    },
    Case {
        rule: "system_file_renamed",
        trigger: "touch /usr/local/bin/sentrace-a-$$ && mv /usr/local/bin/sentrace-a-$$ /usr/local/bin/sentrace-b-$$; rm -f /usr/local/bin/sentrace-b-$$",
        benign: "touch {dir}/a && mv {dir}/a {dir}/b",
    },
    Case {
        rule: "system_file_chmod",
        trigger: "touch /usr/local/bin/sentrace-c-$$ && chmod 755 /usr/local/bin/sentrace-c-$$; rm -f /usr/local/bin/sentrace-c-$$",
        benign: "touch {dir}/c && chmod 755 {dir}/c",
    },
    Case {
        rule: "system_file_deleted",
        trigger: "touch /usr/local/bin/sentrace-d-$$ && rm -f /usr/local/bin/sentrace-d-$$",
        benign: "touch {dir}/d && rm -f {dir}/d",
    },
    Case {
        rule: "system_binary_timestomp",
        trigger: "touch /usr/local/bin/sentrace-t-$$ && touch -d 2001-01-01 /usr/local/bin/sentrace-t-$$; rm -f /usr/local/bin/sentrace-t-$$",
        benign: "touch {dir}/t && touch -d 2001-01-01 {dir}/t",
    },
    Case {
        rule: "exec_from_tmp",
        trigger: "cp /bin/true /tmp/sentrace-true-$$ && /lib64/ld-linux-x86-64.so.2 /tmp/sentrace-true-$$; rm -f /tmp/sentrace-true-$$",
        benign: "cp /bin/true {dir}/true && {dir}/true",
    },
    Case {
        rule: "exec_from_dev_shm",
        trigger: "cp /bin/true /dev/shm/sentrace-true-$$ && /dev/shm/sentrace-true-$$; rm -f /dev/shm/sentrace-true-$$",
        benign: "cp /bin/true {dir}/true && {dir}/true",
    },
    Case {
        rule: "exec_fileless_memfd",
        trigger: "/usr/bin/python3 -c 'import os; fd = os.memfd_create(\"payload\"); os.write(fd, open(\"/bin/true\", \"rb\").read()); os.execv(\"/proc/self/fd/%d\" % fd, [\"payload\"])'",
        benign: "/usr/bin/python3 -c 'import os; fd = os.memfd_create(\"payload\"); os.execv(\"/bin/true\", [\"true\"])'",
    },
    Case {
        rule: "exec_hidden_file",
        trigger: "cp /bin/true {dir}/.hidden && {dir}/.hidden",
        benign: "cp /bin/true {dir}/visible && {dir}/visible",
    },
    Case {
        rule: "executable_written_then_run",
        // The created file is renamed and hard-linked before it runs.
        trigger: "cp /bin/true {dir}/fresh && mv {dir}/fresh {dir}/moved && ln {dir}/moved {dir}/linked && {dir}/linked",
        benign: "cp /bin/true {dir}/fresh && /bin/true",
    },
    Case { rule: "ptrace_attach", trigger: ptrace_request!("16"), benign: ptrace_request!("2") },
    Case { rule: "ptrace_memory_poke", trigger: ptrace_request!("4"), benign: ptrace_request!("2") },
    Case {
        rule: "module_load_from_file",
        trigger: libc_call!("syscall(313, -1, b\"\", 0)"),
        benign: libc_call!("syscall(175, None, 0, b\"\")"),
    },
    Case {
        rule: "module_load_from_memory",
        trigger: libc_call!("syscall(175, None, 0, b\"\")"),
        benign: libc_call!("syscall(313, -1, b\"\", 0)"),
    },
    Case {
        rule: "module_unload",
        trigger: libc_call!("syscall(176, b\"sentrace_no_such_module\", 0o4000)"),
        benign: "cat /proc/modules > /dev/null",
    },
    Case {
        rule: "filesystem_mounted",
        trigger: "mkdir -p {dir}/mnt && mount -t tmpfs sentrace-test {dir}/mnt; umount {dir}/mnt 2>/dev/null; true",
        benign: "cat /proc/mounts > /dev/null",
    },
    Case {
        rule: "host_device_mounted",
        trigger: libc_call!("mount(b\"/dev/sdz9\", b\"/nonexistent-sentrace\", b\"ext4\", 1, None)"),
        benign: libc_call!("mount(b\"sentrace-test\", b\"/nonexistent-sentrace\", b\"tmpfs\", 1, None)"),
    },
    Case { rule: "setuid_bit_set", trigger: "touch {dir}/s && chmod u+s {dir}/s", benign: "touch {dir}/s && chmod 755 {dir}/s" },
    Case { rule: "setgid_bit_set", trigger: "touch {dir}/s && chmod g+s {dir}/s", benign: "touch {dir}/s && chmod 755 {dir}/s" },
    Case {
        rule: "privilege_change_to_root_uid",
        trigger: concat!("setpriv --reuid 65534 --clear-groups ", libc_call!("setuid(0)")),
        benign: "setpriv --reuid 65534 --clear-groups /bin/true",
    },
    Case {
        rule: "privilege_change_to_root_gid",
        trigger: concat!("setpriv --regid 65534 --clear-groups ", libc_call!("setgid(0)")),
        benign: "setpriv --regid 65534 --clear-groups /bin/true",
    },
    Case {
        rule: "package_manager_in_container",
        trigger: "{enter_container}; dpkg --version > /dev/null",
        benign: "dpkg --version > /dev/null",
    },
    Case {
        rule: "network_tool_in_container",
        trigger: "cp /bin/true {dir}/nc; {enter_container}; {dir}/nc",
        benign: "cp /bin/true {dir}/nc; {dir}/nc",
    },
    Case {
        rule: "reverse_shell_netcat",
        trigger: "cp /bin/true {dir}/nc && {dir}/nc -e /bin/sh 127.0.0.1 9",
        benign: "cp /bin/true {dir}/nc && {dir}/nc -z 127.0.0.1 9",
    },
    Case {
        rule: "crypto_miner_command_line",
        trigger: "/bin/true -o stratum+tcp://127.0.0.1:3333 -u wallet",
        benign: "/bin/true -o http://127.0.0.1:3333 -u wallet",
    },
    Case {
        rule: "crypto_miner_binary",
        trigger: "cp /bin/true {dir}/xmrig && {dir}/xmrig",
        benign: "cp /bin/true {dir}/xmrig-notes && {dir}/xmrig-notes",
    },
    Case {
        rule: "credential_file_linked",
        trigger: "ln /etc/shadow {dir}/copy; rm -f {dir}/copy",
        benign: "ln /etc/hostname {dir}/copy; rm -f {dir}/copy",
    },
    Case {
        rule: "history_file_truncated",
        trigger: "truncate -s 0 {dir}/.bash_history && cp /dev/null {dir}/.bash_history",
        // A shell saving its history opens the file as this redirect does.
        benign: ": > {dir}/.bash_history",
    },
    Case {
        rule: "history_file_deleted",
        trigger: "touch {dir}/.bash_history && rm {dir}/.bash_history",
        benign: "touch {dir}/.bashrc && rm {dir}/.bashrc",
    },
    Case {
        rule: "history_file_symlinked",
        trigger: "ln -s /dev/null {dir}/.bash_history",
        benign: "ln -s /dev/null {dir}/other",
    },
    Case {
        rule: "log_file_truncated",
        trigger: ": > /var/log/sentrace-test-$$.log; rm -f /var/log/sentrace-test-$$.log",
        benign: "ls /var/log > /dev/null",
    },
    Case {
        rule: "log_file_deleted",
        trigger: "touch /var/log/sentrace-test-$$.log && rm -f /var/log/sentrace-test-$$.log",
        benign: "touch {dir}/x.log && rm -f {dir}/x.log",
    },
    Case {
        rule: "cgroup_release_agent_written",
        trigger: "echo /bin/true > {dir}/release_agent",
        benign: "cat {dir}/release_agent 2>/dev/null; true",
    },
    Case {
        rule: "kernel_tunable_written",
        trigger: open_for_write!("/proc/sys/kernel/core_pattern"),
        benign: "cat /proc/sys/kernel/core_pattern > /dev/null",
    },
    Case {
        rule: "cloud_metadata_connection",
        trigger: "unshare -n /usr/bin/python3 -c 'import socket; s = socket.socket(); s.settimeout(1); s.connect_ex((\"169.254.169.254\", 80))'",
        benign: "unshare -n /usr/bin/python3 -c 'import socket; s = socket.socket(); s.settimeout(1); s.connect_ex((\"127.0.0.1\", 9))'",
    },
    Case {
        rule: "container_runtime_socket_connection",
        trigger: "/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect_ex(\"/run/podman/podman.sock\")'",
        benign: "/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect_ex(\"{dir}/app.sock\")'",
    },
    Case {
        rule: "foreign_abi_syscall",
        trigger: "gcc -o {dir}/int80 {programs}/int80_open.c && {dir}/int80 /etc/hostname",
        benign: "cat /etc/hostname > /dev/null",
    },
    Case {
        rule: "tracer_signaled",
        // The tracer is the shell's parent and forwards SIGWINCH to it.
        trigger: "kill -WINCH $PPID",
        benign: "kill -WINCH $$",
    },
    Case {
        rule: "io_uring_in_unusual_process",
        trigger: libc_call!("syscall(425, 4, ctypes.create_string_buffer(120))"),
        benign: libc_call!("getpid()"),
    },
    Case {
        rule: "io_uring_in_unusual_process",
        // A copy named like an allowed database is not that database.
        trigger: "cp /usr/bin/python3 {dir}/postgres && {dir}/postgres -c 'import ctypes; ctypes.CDLL(None).syscall(425, 4, ctypes.create_string_buffer(120))'",
        benign: "cp /usr/bin/python3 {dir}/postgres && {dir}/postgres -c 'import os; os.getpid()'",
    },
    Case {
        rule: "process_masquerades_as_kernel_thread",
        trigger: libc_call!("prctl(15, b\"kworker/0:1\", 0, 0, 0)"),
        benign: libc_call!("prctl(15, b\"worker\", 0, 0, 0)"),
    },
    Case {
        rule: "ld_preload_config_written",
        trigger: open_for_write!("/etc/ld.so.preload"),
        benign: "cat /etc/ld.so.preload 2>/dev/null; true",
    },
    Case {
        rule: "ld_preload_environment",
        trigger: "LD_PRELOAD=/nonexistent-sentrace.so /bin/true 2>/dev/null",
        benign: "SENTRACE_TEST=1 /bin/true",
    },
    Case {
        rule: "account_database_written",
        trigger: open_for_write!("/etc/passwd"),
        benign: "cat /etc/passwd > /dev/null",
    },
    Case {
        rule: "ssh_authorized_keys_written",
        trigger: "mkdir -p {dir}/.ssh && echo key >> {dir}/.ssh/authorized_keys",
        benign: "cat {dir}/.ssh/authorized_keys 2>/dev/null; true",
    },
    Case {
        rule: "scheduled_task_written",
        trigger: open_for_write!("/etc/crontab"),
        benign: "cat /etc/crontab 2>/dev/null; true",
    },
];

/// Shell commands that move the shell into a v1 `pids` cgroup whose name
/// contains a 64-hex-digit id, which the tracer reads as a container id.
fn enter_container() -> String {
    let pid = std::process::id();
    let id = format!("{:064x}", (u128::from(pid) << 32) | 0x5e47ace);
    let cgroup = format!("/sys/fs/cgroup/pids/sentrace-test-{pid}/docker-{id}.scope");
    format!("mkdir -p {cgroup} && echo $$ > {cgroup}/cgroup.procs")
}

fn leave_container() -> &'static str {
    "echo $$ > /sys/fs/cgroup/pids/cgroup.procs 2>/dev/null; true"
}

/// Removes the cgroups made by [`enter_container`], retrying while their
/// last processes are released.
fn remove_test_cgroups() {
    let parent = std::path::PathBuf::from(format!(
        "/sys/fs/cgroup/pids/sentrace-test-{}",
        std::process::id()
    ));
    for _ in 0..50 {
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten().filter(|entry| entry.path().is_dir()) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        if std::fs::remove_dir(&parent).is_ok() || !parent.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn expand(command: &str, directory: &Path) -> String {
    let programs = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs");
    let mut text = command
        .replace("{dir}", &directory.display().to_string())
        .replace("{programs}", programs);
    if text.contains("{enter_container}") {
        text = text.replace("{enter_container}", &enter_container());
        text = format!("{text}; {}", leave_container());
    }
    text
}

/// Runs every case with `matched` (which returns the rule ids raised by a
/// command in a directory) and returns the failures.
fn check_cases(label: &str, matched: impl Fn(&str, &Path) -> BTreeSet<String>) -> Vec<String> {
    let mut failures = Vec::new();
    for (index, case) in CASES.iter().enumerate() {
        let directory = scratch_dir(&format!("{label}-{index}-trigger"));
        let trigger = expand(case.trigger, &directory);
        let raised = matched(&trigger, &directory);
        if !raised.contains(case.rule) {
            failures.push(format!(
                "{}: not raised by {trigger:?} (raised: {raised:?})",
                case.rule
            ));
        }
        let _ = std::fs::remove_dir_all(&directory);
        let directory = scratch_dir(&format!("{label}-{index}-benign"));
        let benign = expand(case.benign, &directory);
        let raised = matched(&benign, &directory);
        if raised.contains(case.rule) {
            failures.push(format!("{}: raised by the benign {benign:?}", case.rule));
        }
        let _ = std::fs::remove_dir_all(&directory);
    }
    // The other test may still use the parent directory; remove it only when empty.
    let _ = std::fs::remove_dir("/var/lib/sentrace-policy-test");
    remove_test_cgroups();
    failures
}

#[test]
fn builtin_rules_fire_on_traced_events() {
    let policy = Policy::builtin();
    let failures = check_cases("trace", |command, directory| {
        matched_rules(&policy, &trace_command(command, directory))
    });
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn builtin_rules_alert_under_sentrace_run() {
    let failures = check_cases("run", run_command);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_builtin_rule_has_a_case() {
    let policy = Policy::builtin();
    let silent = [
        "new_executable_file_tracker",
        "renamed_file_tracker",
        "linked_file_tracker",
    ];
    // DNS rules need a name server of the test's own: trace_dns.rs tests them.
    let tested_in_trace_dns = ["dns_long_name_lookup", "mining_pool_dns_lookup"];
    for rule in &policy.report().rules {
        if silent.contains(&rule.id.as_str()) || tested_in_trace_dns.contains(&rule.id.as_str()) {
            continue;
        }
        assert!(
            CASES.iter().any(|case| case.rule == rule.id),
            "no test case for {}",
            rule.id
        );
    }
}
