//! Carries out the probe's actions. The tracer only signals processes that
//! appeared in this session's events, so a probe cannot make it signal
//! arbitrary processes of the machine.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, Pid};
use protocol::{Action, TracerMessage};

use super::buffer::Shared;

/// Performs one action and returns its `action_result` message.
pub(crate) fn perform(id: u64, action: &Action, shared: &Shared) -> TracerMessage {
    let outcome = match action {
        Action::Kill {
            pid,
            signal,
            scope,
            rule_id,
        } => {
            let outcome = kill_scope(*pid, *signal, scope, shared);
            match &outcome {
                Ok(()) => {
                    tracing::info!(pid, signal, scope, rule_id, "killed on the probe's request")
                }
                Err(error) => tracing::warn!(pid, signal, scope, rule_id, "kill failed: {error}"),
            }
            outcome
        }
    };
    match outcome {
        Ok(()) => TracerMessage::ActionResult {
            id,
            ok: true,
            error: None,
        },
        Err(error) => TracerMessage::ActionResult {
            id,
            ok: false,
            error: Some(error),
        },
    }
}

fn kill_scope(pid: u32, signal: i32, scope: &str, shared: &Shared) -> Result<(), String> {
    let signal = Signal::try_from(signal).map_err(|_| format!("invalid signal number {signal}"))?;
    let traced: Vec<u32> = shared.lock().traced_pids.iter().copied().collect();
    if !traced.contains(&pid) {
        return Err(format!("pid {pid} is not a traced process"));
    }
    let target = Pid::from_raw(pid as i32);
    match scope {
        "process" => kill(target, signal).map_err(|errno| format!("kill({pid}): {errno}")),
        "process_group" => {
            let group =
                getpgid(Some(target)).map_err(|errno| format!("getpgid({pid}): {errno}"))?;
            killpg(group, signal).map_err(|errno| format!("killpg({group}): {errno}"))
        }
        // Every traced process is the workload's "container".
        "container" => {
            let mut first_error = None;
            for traced_pid in traced {
                if let Err(errno) = kill(Pid::from_raw(traced_pid as i32), signal) {
                    first_error.get_or_insert(format!("kill({traced_pid}): {errno}"));
                }
            }
            first_error.map_or(Ok(()), Err)
        }
        other => Err(format!(
            "unknown kill scope {other:?} (expected process, process_group or container)"
        )),
    }
}
