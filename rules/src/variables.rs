//! Rule variables: values that the `set` action stores and later rules read
//! as `${name}`, `${process.name}` or `${container.name}`.

use std::collections::HashMap;

use protocol::Process;

/// A variable's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VarValue {
    Int(i64),
    Str(String),
    Bool(bool),
    StrList(Vec<String>),
    IntList(Vec<i64>),
}

/// The scope of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum VarScope {
    /// One value for the whole session.
    Global,
    /// One value per process.
    Process,
    /// One value per container. SECL's `cgroup` scope maps here too, because
    /// a container is the cgroup sentrace knows of. Processes outside any
    /// container (empty container id) share one host scope.
    Container,
}

impl VarScope {
    /// Splits `process.name` into its scope and name; `None` for unsupported scopes.
    pub(crate) fn split(full: &str) -> Result<(VarScope, &str), String> {
        match full.split_once('.') {
            Some(("process", name)) => Ok((VarScope::Process, name)),
            Some(("container" | "cgroup", name)) => Ok((VarScope::Container, name)),
            Some((scope, _)) => Err(scope.to_string()),
            None => Ok((VarScope::Global, full)),
        }
    }
}

/// Per-session variable state for the `set` action, with process and
/// container scopes.
#[derive(Debug, Default)]
pub struct Variables {
    global: HashMap<String, VarValue>,
    process: HashMap<u32, HashMap<String, VarValue>>,
    container: HashMap<String, HashMap<String, VarValue>>,
    next_id: u64,
}

impl Variables {
    /// Drops the process-scoped variables of an exited process.
    pub fn forget_process(&mut self, pid: u32) {
        self.process.remove(&pid);
    }

    /// Reads a variable. Process variables marked `inherited` are looked up
    /// in the ancestors when the process has no value of its own.
    pub(crate) fn get(
        &self,
        scope: VarScope,
        name: &str,
        process: &Process,
        ancestors: &[Process],
        inherited: bool,
    ) -> Option<&VarValue> {
        match scope {
            VarScope::Global => self.global.get(name),
            VarScope::Container => self.container.get(&process.container.id)?.get(name),
            VarScope::Process => {
                let own = self
                    .process
                    .get(&process.pid)
                    .and_then(|vars| vars.get(name));
                if own.is_some() || !inherited {
                    return own;
                }
                ancestors.iter().find_map(|ancestor| {
                    self.process
                        .get(&ancestor.pid)
                        .and_then(|vars| vars.get(name))
                })
            }
        }
    }

    /// Stores a value, or adds it to a list when `append` is set.
    pub(crate) fn set(
        &mut self,
        scope: VarScope,
        name: &str,
        process: &Process,
        value: VarValue,
        append: bool,
    ) {
        let table = match scope {
            VarScope::Global => &mut self.global,
            VarScope::Process => self.process.entry(process.pid).or_default(),
            VarScope::Container => self
                .container
                .entry(process.container.id.clone())
                .or_default(),
        };
        if !append {
            table.insert(name.to_string(), value);
            return;
        }
        let entry = table.entry(name.to_string());
        let current = entry.or_insert_with(|| match value {
            VarValue::Int(_) | VarValue::IntList(_) => VarValue::IntList(Vec::new()),
            _ => VarValue::StrList(Vec::new()),
        });
        match (current, value) {
            (VarValue::StrList(list), VarValue::Str(item)) => {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            (VarValue::StrList(list), VarValue::StrList(items)) => {
                for item in items {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
            }
            (VarValue::IntList(list), VarValue::Int(item)) => {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            (current, value) => *current = value,
        }
    }

    /// Returns a new id for `${builtins.uuid4}`, unique within this session.
    pub(crate) fn unique_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            self.next_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32) -> Process {
        Process {
            pid,
            ..Process::default()
        }
    }

    #[test]
    fn process_scope_is_per_pid_and_forgotten() {
        let mut vars = Variables::default();
        vars.set(
            VarScope::Process,
            "k",
            &process(1),
            VarValue::Str("a".into()),
            false,
        );
        assert_eq!(
            vars.get(VarScope::Process, "k", &process(1), &[], false),
            Some(&VarValue::Str("a".into()))
        );
        assert_eq!(
            vars.get(VarScope::Process, "k", &process(2), &[], false),
            None
        );
        assert_eq!(
            vars.get(VarScope::Process, "k", &process(2), &[process(1)], true),
            Some(&VarValue::Str("a".into()))
        );
        vars.forget_process(1);
        assert_eq!(
            vars.get(VarScope::Process, "k", &process(1), &[], false),
            None
        );
    }

    #[test]
    fn append_builds_a_list_without_duplicates() {
        let mut vars = Variables::default();
        for item in ["a", "b", "a"] {
            vars.set(
                VarScope::Global,
                "l",
                &process(1),
                VarValue::Str(item.into()),
                true,
            );
        }
        let expected = VarValue::StrList(vec!["a".into(), "b".into()]);
        assert_eq!(
            vars.get(VarScope::Global, "l", &process(1), &[], false),
            Some(&expected)
        );
    }
}
