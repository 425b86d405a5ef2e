//! Datadog's default policy, loaded unchanged, on real commands: rules on a
//! file's mode and owner before a change, a ptrace tracee's credentials, and
//! rules that need a container, its start time and its image layers.
//!
//! The container is emulated here, since no container runtime runs these
//! tests: a cgroup whose name ends in 64 hex digits gives the container id,
//! and a private mount namespace with an overlay filesystem gives the image
//! (lower) and writable (upper) layers. The tracer runs inside, as it does
//! as a container's entrypoint.

mod policy_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use policy_support::{matched_rules, scratch_dir, trace_command};
use protocol::{Event, EventBody};
use rules::Policy;

const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs");

fn datadog() -> Policy {
    let (policy, _) =
        Policy::load_files(&[PathBuf::from(DATADOG_POLICY)]).expect("loading the Datadog policy");
    policy
}

fn matched(command: &str, name: &str) -> BTreeSet<String> {
    let directory = scratch_dir(name);
    let events = trace_command(command, &directory);
    let _ = std::fs::remove_dir_all(&directory);
    matched_rules(&datadog(), &events)
}

#[test]
fn chmod_that_changes_a_binary_mode_matches() {
    let file = format!("/usr/local/bin/sentrace-chmod-{}", std::process::id());
    let changed = matched(
        &format!("cp /bin/true {file} && chmod 755 {file} && chmod 700 {file}; rm -f {file}"),
        "chmod-changed",
    );
    assert!(
        changed.contains("pci_11_5_critical_binaries_chmod"),
        "{changed:?}"
    );
    let same = matched(
        &format!("cp /bin/true {file} && chmod 755 {file} && chmod 755 {file}; rm -f {file}"),
        "chmod-same",
    );
    assert!(
        !same.contains("pci_11_5_critical_binaries_chmod"),
        "{same:?}"
    );
}

#[test]
fn chown_that_changes_a_binary_owner_matches() {
    let file = format!("/usr/local/bin/sentrace-chown-{}", std::process::id());
    let changed = matched(
        &format!("cp /bin/true {file} && chown 1 {file}; rm -f {file}"),
        "chown-changed",
    );
    assert!(
        changed.contains("pci_11_5_critical_binaries_chown"),
        "{changed:?}"
    );
    // Owner already root, group left as it is (-1): nothing changes.
    let same = matched(
        &format!("cp /bin/true {file} && chown 0 {file}; rm -f {file}"),
        "chown-same",
    );
    assert!(
        !same.contains("pci_11_5_critical_binaries_chown"),
        "{same:?}"
    );
}

#[test]
fn peeking_into_a_root_process_matches() {
    let build = |dir: &Path| {
        format!(
            "gcc -o {dir}/peek {PROGRAMS}/ptrace_peek.c && {dir}/peek",
            dir = dir.display()
        )
    };
    let directory = scratch_dir("peek-root");
    let events = trace_command(&build(&directory), &directory);
    let root = matched_rules(&datadog(), &events);
    assert!(root.contains("sensitive_tracing"), "{root:?}");
    let euids: Vec<Option<u32>> = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::Ptrace { ptrace } => Some(ptrace.tracee.euid),
            _ => None,
        })
        .collect();
    assert_eq!(euids, [Some(0)]);
    let events = trace_command(&format!("{} nobody", build(&directory)), &directory);
    let _ = std::fs::remove_dir_all(&directory);
    let nobody = matched_rules(&datadog(), &events);
    assert!(!nobody.contains("sensitive_tracing"), "{nobody:?}");
}

/// A container made of a cgroup named by a 64-hex-digit id and an overlay
/// root whose lower layer contains a copy of `true` made before the container
/// started.
struct Container {
    directory: PathBuf,
    cgroup: PathBuf,
    id: String,
}

impl Container {
    fn new(name: &str) -> Container {
        let directory = scratch_dir(name);
        for layer in ["lower", "upper", "work", "root"] {
            std::fs::create_dir_all(directory.join(layer)).expect("creating overlay layers");
        }
        std::fs::copy("/bin/true", directory.join("lower/image-true")).expect("copying true");
        let id = format!("{:0>64x}", 0x5e47ace_u64 + u64::from(std::process::id()));
        let cgroup = cgroup_parent().join(format!("sentrace-test-{id}"));
        std::fs::create_dir_all(&cgroup).expect("creating the container's cgroup");
        // Process start times have a 10 ms resolution: let the image file
        // predate the container by more than that.
        std::thread::sleep(Duration::from_millis(50));
        Container {
            directory,
            cgroup,
            id,
        }
    }

    /// Runs `command` under `sentrace trace` as the container's entrypoint
    /// and returns the events; the overlay root is `$ROOT`.
    fn trace(&self, command: &str) -> Vec<Event> {
        let dir = self.directory.display();
        let output = self.directory.join("events.jsonl");
        let script = format!(
            "set -e; echo $$ > {cgroup}/cgroup.procs; \
             mount -t overlay overlay -o lowerdir={dir}/lower,upperdir={dir}/upper,workdir={dir}/work {dir}/root; \
             ROOT={dir}/root exec {sentrace} trace --output {output} -- sh -c '{command}'",
            cgroup = self.cgroup.display(),
            sentrace = env!("CARGO_BIN_EXE_sentrace"),
            output = output.display(),
        );
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting unshare");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("polling unshare").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("container command timed out: {command}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let events: Vec<Event> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        assert!(
            events
                .iter()
                .any(|event| event.process.container.id == self.id
                    && event.process.container.created_at > 0),
            "no event carries container {}",
            self.id
        );
        events
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.cgroup);
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Returns where a test cgroup can be made: the cgroup v2 root on a unified
/// hierarchy, else the v1 `pids` hierarchy, else the hybrid v2 mount.
fn cgroup_parent() -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    [root.to_path_buf(), root.join("pids"), root.join("unified")]
        .into_iter()
        .find(|candidate| candidate.join("cgroup.procs").exists())
        .expect("a writable cgroup hierarchy under /sys/fs/cgroup")
}

#[test]
fn binary_dropped_into_container_upper_layer_matches() {
    let container = Container::new("upper-dropped");
    let events = container.trace("cp /bin/true $ROOT/dropped && $ROOT/dropped");
    let dropped: Vec<&Event> = events
        .iter()
        .filter(
            |event| matches!(&event.body, EventBody::Exec { exec } if exec.file.name == "dropped"),
        )
        .collect();
    assert_eq!(dropped.len(), 1, "{events:?}");
    assert!(dropped[0].process.file.in_upper_layer, "{:?}", dropped[0]);
    assert_eq!(dropped[0].process.file.filesystem, "overlay");
    let found = matched_rules(&datadog(), &events);
    assert!(
        found.contains("new_binary_execution_in_container_v2"),
        "{found:?}"
    );
}

#[test]
fn binary_from_container_image_does_not_match() {
    let container = Container::new("upper-image");
    let events = container.trace("$ROOT/image-true");
    let image: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(&event.body, EventBody::Exec { exec } if exec.file.name == "image-true"))
        .collect();
    assert_eq!(image.len(), 1, "{events:?}");
    assert!(!image[0].process.file.in_upper_layer, "{:?}", image[0]);
    let found = matched_rules(&datadog(), &events);
    assert!(
        !found.contains("new_binary_execution_in_container_v2"),
        "{found:?}"
    );
}

#[test]
fn core_pattern_opened_for_write_in_container_matches() {
    let container = Container::new("core-pattern");
    let open = |mode: &str| {
        format!(
            "python3 -c \"import os; os.close(os.open(\\\"/proc/sys/kernel/core_pattern\\\", os.{mode}))\""
        )
    };
    let written = matched_rules(&datadog(), &container.trace(&open("O_WRONLY")));
    assert!(written.contains("core_pattern_write"), "{written:?}");
    let read = matched_rules(&datadog(), &container.trace(&open("O_RDONLY")));
    assert!(!read.contains("core_pattern_write"), "{read:?}");
}
