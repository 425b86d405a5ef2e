//! Compares the tracer with strace on a real multi-process workload (make
//! building a C program with gcc), and checks that the workload's output
//! and exit status are the same with and without the tracer.

mod trace_support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use trace_support::{run_plain, scratch_dir, sentrace, wait_with_timeout};

const TIMEOUT: Duration = Duration::from_secs(120);
const SYSCALLS: &str = "execve,execveat,open,openat,openat2,creat";

/// Writes a two-file C project with a Makefile into `directory`.
fn write_project(directory: &Path) {
    std::fs::write(
        directory.join("main.c"),
        "#include \"greet.h\"\nint main(void) { return greet(); }\n",
    )
    .unwrap();
    std::fs::write(directory.join("greet.h"), "int greet(void);\n").unwrap();
    std::fs::write(
        directory.join("greet.c"),
        "#include <stdio.h>\n#include \"greet.h\"\nint greet(void) { puts(\"hello\"); return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        directory.join("Makefile"),
        "hello: main.o greet.o\n\tgcc -o hello main.o greet.o\n\n%.o: %.c greet.h\n\tgcc -c -o $@ $<\n\n\
         clean:\n\trm -f hello *.o\n",
    )
    .unwrap();
    std::fs::create_dir_all(directory.join("tmp")).unwrap();
}

/// Runs `make clean` so each traced build starts from the same state.
fn clean(directory: &Path) {
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(directory)
        .arg("clean")
        .status()
        .unwrap();
    assert!(status.success());
}

/// Replaces the random part of gcc's temporary file names (`ccAbC123.s`)
/// and drops a trailing `/.` (the tracer resolves `.` to the directory).
fn normalize(path: &str, temp: &str) -> String {
    let path = path.strip_suffix("/.").unwrap_or(path);
    match path.strip_prefix(temp) {
        Some(name) if name.starts_with("cc") => {
            let extension = name
                .rsplit_once('.')
                .map(|(_, extension)| extension)
                .unwrap_or("");
            format!("{temp}ccXXXXXX.{extension}")
        }
        _ => path.to_string(),
    }
}

/// Returns the path of the file `path` names, as the tracer reports it:
/// symbolic links, `.` and `..` resolved; for a file that no longer exists
/// (a temporary file), its directory resolved.
fn canonical(path: &str) -> String {
    let path = Path::new(path);
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved.display().to_string();
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(resolved) => resolved.join(name).display().to_string(),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// Returns the first double-quoted string after `from` in `line`, unescaped
/// for the escapes strace uses in paths (`\"`, `\\`).
fn quoted(line: &str, from: usize) -> Option<String> {
    let start = line[from..].find('"')? + from + 1;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(character) = chars.next() {
        match character {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            other => value.push(other),
        }
    }
    None
}

/// Parses `strace -f -o` output into (exec paths, opened paths). Calls that
/// strace split into `<unfinished ...>` and `<... resumed>` are joined by pid.
fn parse_strace(text: &str, cwd: &str, temp: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut execs = BTreeSet::new();
    let mut opens = BTreeSet::new();
    let mut unfinished: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        let full = if rest.starts_with("<...") {
            let Some(head) = unfinished.remove(pid) else {
                continue;
            };
            let tail = rest
                .split_once("resumed>")
                .map(|(_, tail)| tail)
                .unwrap_or("");
            format!("{head}{tail}")
        } else if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            unfinished.insert(pid.to_string(), head.to_string());
            continue;
        } else {
            rest.to_string()
        };
        let Some(name_end) = full.find('(') else {
            continue;
        };
        let name = &full[..name_end];
        let path_from = match name {
            "openat" | "openat2" | "execveat" => {
                full.find(", ").map(|index| index + 1).unwrap_or(name_end)
            }
            _ => name_end,
        };
        let Some(path) = quoted(&full, path_from) else {
            continue;
        };
        let absolute = if path.starts_with('/') {
            path
        } else {
            format!("{cwd}/{path}")
        };
        let absolute = normalize(&canonical(&absolute), temp);
        match name {
            "execve" | "execveat" if full.trim_end().ends_with("= 0") => {
                execs.insert(absolute);
            }
            "open" | "openat" | "openat2" | "creat" => {
                opens.insert(absolute);
            }
            _ => {}
        }
    }
    (execs, opens)
}

/// Runs the build under `sentrace trace --output` and returns (exec paths, opened paths).
fn sentrace_paths(directory: &Path, temp: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let output = directory.join("events.json");
    let child = Command::new(sentrace())
        .args(["trace", "--output"])
        .arg(&output)
        .args(["--", "make", "-s", "-C"])
        .arg(directory)
        .env("TMPDIR", directory.join("tmp"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let result = wait_with_timeout(child, TIMEOUT);
    assert!(
        result.status.success(),
        "traced make failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let events = trace_support::read_events(&output);
    let path_of = |kind: &str| -> BTreeSet<String> {
        events
            .iter()
            .filter(|event| event["type"] == kind)
            .filter_map(|event| event[kind]["file"]["path"].as_str())
            .map(|path| normalize(path, temp))
            .collect()
    };
    (path_of("exec"), path_of("open"))
}

fn strace_paths(directory: &Path, temp: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let output = directory.join("strace.out");
    let child = Command::new("strace")
        .args([
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-e",
            &format!("trace={SYSCALLS}"),
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&output)
        .args(["make", "-s", "-C"])
        .arg(directory)
        .env("TMPDIR", directory.join("tmp"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running strace (install it with .ci/install-deps)");
    let result = wait_with_timeout(child, TIMEOUT);
    assert!(
        result.status.success(),
        "strace make failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    parse_strace(&text, directory.to_str().unwrap(), temp)
}

#[test]
fn make_build_matches_strace() {
    let directory = scratch_dir("oracle");
    write_project(&directory);
    let temp = format!("{}/tmp/", directory.display());

    let (strace_execs, strace_opens) = strace_paths(&directory, &temp);
    clean(&directory);
    let (sentrace_execs, sentrace_opens) = sentrace_paths(&directory, &temp);

    assert!(
        strace_execs.iter().any(|path| path.contains("-gcc-")),
        "strace saw no gcc: {strace_execs:?}"
    );
    assert!(
        strace_opens.len() > 20,
        "strace saw too few opens: {strace_opens:?}"
    );
    assert_eq!(sentrace_execs, strace_execs, "executed paths differ");
    let only_strace: Vec<_> = strace_opens.difference(&sentrace_opens).collect();
    let only_sentrace: Vec<_> = sentrace_opens.difference(&strace_opens).collect();
    assert!(
        only_strace.is_empty(),
        "opened paths that only strace saw: {only_strace:?}"
    );
    assert!(
        only_sentrace.is_empty(),
        "opened paths that only sentrace saw: {only_sentrace:?}"
    );
}

#[test]
fn output_and_status_are_byte_identical() {
    let directory = scratch_dir("transparency");
    let script = "echo out; echo err >&2; printf 'no newline'; ls /sentrace-missing; \
                  for i in 1 2 3; do echo line $i; done; sh -c 'exit 5'; exit $?";
    let command = ["sh", "-c", script];
    let plain = run_plain(&command, TIMEOUT);
    let traced = trace_support::trace(&directory, &[], &command, TIMEOUT);
    assert_eq!(traced.code(), plain.status.code(), "exit status differs");
    assert_eq!(traced.code(), Some(5));
    assert_eq!(traced.stdout, plain.stdout, "stdout differs");
    assert_eq!(traced.stderr, plain.stderr, "stderr differs");
}

#[test]
fn make_output_is_byte_identical() {
    let directory = scratch_dir("transparency-make");
    write_project(&directory);
    let command = ["make", "-C", directory.to_str().unwrap()];
    let plain = run_plain(&command, TIMEOUT);
    clean(&directory);
    let traced = trace_support::trace(&directory, &[], &command, TIMEOUT);
    assert_eq!(traced.code(), plain.status.code());
    assert_eq!(
        String::from_utf8_lossy(&traced.stdout),
        String::from_utf8_lossy(&plain.stdout)
    );
    assert_eq!(traced.stderr, plain.stderr);
    let hello = Command::new(directory.join("hello")).output().unwrap();
    assert_eq!(hello.stdout, b"hello\n");
}
