//! Carries out the probe's actions. The tracer only signals processes that
//! appeared in this session's events, so a probe cannot make it signal
//! arbitrary processes of the machine.

use nix::sys::signal::{kill, Signal};
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
        // The workload shares its process group with the shell or container
        // runtime that started sentrace, and with the tracer. killpg(2) would
        // reach them all, so only the traced members of the group are signalled.
        "process_group" => {
            let group =
                getpgid(Some(target)).map_err(|errno| format!("getpgid({pid}): {errno}"))?;
            let members = traced
                .into_iter()
                .filter(|member| getpgid(Some(Pid::from_raw(*member as i32))) == Ok(group));
            signal_each(members, signal)
        }
        // Every traced process is the workload's "container".
        "container" => signal_each(traced.into_iter(), signal),
        other => Err(format!(
            "unknown kill scope {other:?} (expected process, process_group or container)"
        )),
    }
}

/// Sends `signal` to each pid, returning the first failure after trying all.
fn signal_each(pids: impl Iterator<Item = u32>, signal: Signal) -> Result<(), String> {
    let mut first_error = None;
    for pid in pids {
        if let Err(errno) = kill(Pid::from_raw(pid as i32), signal) {
            first_error.get_or_insert(format!("kill({pid}): {errno}"));
        }
    }
    first_error.map_or(Ok(()), Err)
}
