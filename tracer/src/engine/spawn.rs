//! Starting the workload in wrap mode.
//!
//! The child stops itself with SIGSTOP right after fork. The parent waits for
//! that stop and seizes the child with `PTRACE_SEIZE`, so the tracer is in
//! place before the child installs the seccomp filter (whose
//! `SECCOMP_RET_TRACE` results need a tracer) and before it execs. Everything
//! the child does after fork is prepared before fork: the child only makes
//! async-signal-safe syscalls and never allocates.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use seccompiler::BpfProgram;

use super::signals::Inherited;
use super::TraceError;

/// Everything the child needs after fork, allocated before it.
pub struct Launch {
    path: CString,
    /// Owner of the strings that `argv_pointers` points to.
    _argv: Vec<CString>,
    argv_pointers: Vec<*const libc::c_char>,
    /// Owner of the strings that `env_pointers` points to.
    _env: Vec<CString>,
    env_pointers: Vec<*const libc::c_char>,
    filter: Option<BpfProgram>,
    uid: Option<libc::uid_t>,
    gid: Option<libc::gid_t>,
    exec_failed_message: Vec<u8>,
    filter_failed_message: &'static [u8],
    credentials_failed_message: &'static [u8],
}

/// Resolves `command[0]` like `execvp`, or returns the error a shell gives
/// (exit 127 for not found, 126 for not executable).
pub fn resolve_command(program: &OsStr) -> Result<PathBuf, TraceError> {
    let display = program.to_string_lossy().into_owned();
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return match executable_state(&path) {
            Some(true) => Ok(path),
            Some(false) => Err(TraceError::NotExecutable { path: display }),
            None => Err(TraceError::CommandNotFound { path: display }),
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found_non_executable = None;
    for directory in std::env::split_paths(&search) {
        let candidate = directory.join(program);
        match executable_state(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) => {
                found_non_executable.get_or_insert(candidate);
            }
            None => {}
        }
    }
    match found_non_executable {
        Some(path) => Err(TraceError::NotExecutable {
            path: path.to_string_lossy().into_owned(),
        }),
        None => Err(TraceError::CommandNotFound { path: display }),
    }
}

/// `Some(true)` for an executable regular file, `Some(false)` for a file
/// that exists but cannot be executed, `None` when there is no such file.
fn executable_state(path: &Path) -> Option<bool> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
        return Some(false);
    }
    Some(nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok())
}

fn c_string(bytes: Vec<u8>) -> CString {
    CString::new(
        bytes
            .into_iter()
            .filter(|&byte| byte != 0)
            .collect::<Vec<u8>>(),
    )
    .unwrap_or_default()
}

impl Launch {
    /// Prepares the launch of `command` with an optional filter and credentials.
    pub fn new(
        command: &[OsString],
        filter: Option<BpfProgram>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<Launch, TraceError> {
        let program = command.first().ok_or(TraceError::EmptyCommand)?;
        let path = resolve_command(program)?;
        let argv: Vec<CString> = command
            .iter()
            .map(|arg| c_string(arg.clone().into_vec()))
            .collect();
        let env: Vec<CString> = std::env::vars_os()
            .map(|(name, value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.extend(value.into_vec());
                c_string(entry)
            })
            .collect();
        let mut argv_pointers: Vec<_> = argv.iter().map(|arg| arg.as_ptr()).collect();
        argv_pointers.push(std::ptr::null());
        let mut env_pointers: Vec<_> = env.iter().map(|entry| entry.as_ptr()).collect();
        env_pointers.push(std::ptr::null());
        let exec_failed_message =
            format!("sentrace: {}: exec failed\n", path.display()).into_bytes();
        Ok(Launch {
            path: c_string(path.into_os_string().into_vec()),
            _argv: argv,
            argv_pointers,
            _env: env,
            env_pointers,
            filter,
            uid,
            gid,
            exec_failed_message,
            filter_failed_message:
                b"sentrace: installing the seccomp filter failed; retry with --disable-seccomp\n",
            credentials_failed_message: b"sentrace: dropping privileges (--uid/--gid) failed\n",
        })
    }

    /// Forks the child, seizes it with `options` and lets it run to its exec.
    /// Returns the child's pid. The caller's wait loop receives its stops.
    pub fn start(&self, options: ptrace::Options, signals: &Inherited) -> Result<Pid, TraceError> {
        // SAFETY: the child branch only calls `child_main`, which makes
        // async-signal-safe syscalls on memory prepared before fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(TraceError::Sys {
                call: "fork",
                source: nix::Error::last(),
            });
        }
        if pid == 0 {
            self.child_main(signals);
        }
        let child = Pid::from_raw(pid);
        self.seize_stopped_child(child, options)?;
        Ok(child)
    }

    fn seize_stopped_child(&self, child: Pid, options: ptrace::Options) -> Result<(), TraceError> {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(child.as_raw(), &mut status, libc::WUNTRACED) };
        if waited < 0 || !libc::WIFSTOPPED(status) {
            return Err(TraceError::Sys {
                call: "waitpid",
                source: nix::Error::last(),
            });
        }
        if let Err(error) = ptrace::seize(child, options) {
            let _ = kill(child, Signal::SIGKILL);
            return Err(match error {
                nix::Error::EPERM => TraceError::ptrace_denied(child.as_raw() as u32),
                source => TraceError::Sys {
                    call: "ptrace(PTRACE_SEIZE)",
                    source,
                },
            });
        }
        kill(child, Signal::SIGCONT).map_err(|source| TraceError::Sys {
            call: "kill(SIGCONT)",
            source,
        })
    }

    /// Runs the child after fork. Never returns.
    fn child_main(&self, signals: &Inherited) -> ! {
        // SAFETY: only async-signal-safe calls on data prepared before fork;
        // every path ends in execve or _exit.
        unsafe {
            signals.restore();
            libc::kill(libc::getpid(), libc::SIGSTOP);
            if let Some(program) = &self.filter {
                if !install_filter(program) {
                    fail(self.filter_failed_message, 126);
                }
            }
            if !self.drop_privileges() {
                fail(self.credentials_failed_message, 126);
            }
            libc::execve(
                self.path.as_ptr(),
                self.argv_pointers.as_ptr(),
                self.env_pointers.as_ptr(),
            );
            let code = if *libc::__errno_location() == libc::ENOENT {
                127
            } else {
                126
            };
            fail(&self.exec_failed_message, code)
        }
    }

    /// Calls setgroups, setgid and setuid in that order. Async-signal-safe.
    fn drop_privileges(&self) -> bool {
        if self.uid.is_none() && self.gid.is_none() {
            return true;
        }
        // SAFETY: plain syscalls with values and a pointer to a local.
        unsafe {
            let gid = self.gid.unwrap_or_else(|| libc::getgid());
            if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 {
                return false;
            }
            if let Some(uid) = self.uid {
                if libc::setuid(uid) != 0 {
                    return false;
                }
            }
        }
        true
    }
}

/// Installs the filter. It tries without `PR_SET_NO_NEW_PRIVS` first, so that
/// setuid programs keep working under a privileged tracer, and sets it only
/// when the kernel requires it (EACCES without `CAP_SYS_ADMIN`).
/// Async-signal-safe.
fn install_filter(program: &BpfProgram) -> bool {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points to a live program of `len` instructions, and
    // seccompiler's `sock_filter` has the kernel's layout.
    unsafe {
        let set_filter = || {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if set_filter() == 0 {
            return true;
        }
        if *libc::__errno_location() != libc::EACCES {
            return false;
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return false;
        }
        set_filter() == 0
    }
}

/// Writes `message` to stderr and exits the child. Async-signal-safe.
fn fail(message: &[u8], code: i32) -> ! {
    // SAFETY: write and _exit are async-signal-safe; `message` is live.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_command_is_not_found() {
        let error = resolve_command(OsStr::new("no-such-command-sentrace")).unwrap_err();
        assert!(matches!(error, TraceError::CommandNotFound { .. }));
    }

    #[test]
    fn directory_is_not_executable() {
        let error = resolve_command(OsStr::new("/tmp")).unwrap_err();
        assert!(matches!(error, TraceError::NotExecutable { .. }));
    }

    #[test]
    fn sh_resolves_through_path() {
        assert!(resolve_command(OsStr::new("sh")).unwrap().is_absolute());
    }
}
