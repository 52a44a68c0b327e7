//! Processes of the container: each in its own process group, with the parent-death
//! signal set, and their descendants tracked (a program may start helpers in process
//! groups of their own, as OpenClaw's spawn broker does) so that stopping a machine
//! leaves nothing behind.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

use super::container::Container;
use crate::sync::lock;

/// A signal by its name as the Machines API writes it (`SIGTERM`, ...).
pub fn signal_by_name(name: &str) -> Option<Signal> {
    Some(match name {
        "SIGHUP" => Signal::HUP,
        "SIGINT" => Signal::INT,
        "SIGQUIT" => Signal::QUIT,
        "SIGKILL" => Signal::KILL,
        "SIGUSR1" => Signal::USR1,
        "SIGUSR2" => Signal::USR2,
        "SIGTERM" => Signal::TERM,
        _ => return None,
    })
}

/// A process to start in a container.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The program as the command names it (the process's `argv[0]`).
    pub arg0: &'a str,
    /// The resolved host program.
    pub program: &'a Path,
    /// Its arguments (without the program).
    pub args: &'a [String],
    /// The container it runs in.
    pub container: &'a Container,
    /// Where stdout and stderr go; `None` pipes them.
    pub log: Option<&'a Path>,
    /// Whether stdin is piped (else it is empty).
    pub stdin: bool,
}

/// Starts a process: the container's environment only, its working dir, a process
/// group of its own, and SIGKILL when the simulator's thread that started it dies.
pub fn spawn(launch: &Launch<'_>) -> std::io::Result<Child> {
    let mut command = Command::new(launch.program);
    command
        .arg0(launch.arg0)
        .args(launch.args)
        .env_clear()
        .envs(&launch.container.env)
        .current_dir(&launch.container.cwd)
        .process_group(0)
        .kill_on_drop(false);
    command.stdin(if launch.stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    match launch.log {
        Some(path) => {
            let out = File::options().create(true).append(true).open(path)?;
            let err = out.try_clone()?;
            command.stdout(out).stderr(err);
        }
        None => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
    }
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // prctl(PR_SET_PDEATHSIG) system call, which is async-signal-safe: no allocation,
    // no locks. It makes the kernel SIGKILL the child when the simulator's thread that
    // forked it dies, so even a SIGKILLed simulator leaves no machine process behind.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    command.spawn()
}

/// A process id with its start time, so a reused pid is never signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcessId {
    /// The pid.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub started: u64,
}

/// The parent pid, process group and start time of a process, from `/proc`.
fn stat(pid: i32) -> Option<(i32, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields from 3 on: state(3) ppid(4) pgrp(5) ... starttime(22).
    let ppid = fields.get(1)?.parse().ok()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let started = fields.get(19)?.parse().ok()?;
    Some((ppid, pgrp, started))
}

/// Whether a process is alive (not a zombie) and still the one recorded.
fn alive(id: ProcessId) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{}/stat", id.pid)) else {
        return false;
    };
    let zombie = text
        .rfind(')')
        .and_then(|i| text.get(i + 2..i + 3))
        .is_some_and(|state| state == "Z" || state == "X");
    !zombie && stat(id.pid).is_some_and(|(_, _, started)| started == id.started)
}

/// The process `root` and all its living descendants.
pub fn tree(root: i32) -> Vec<ProcessId> {
    let mut table = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some((ppid, _, started)) = stat(pid) {
                table.push((pid, ppid, started));
            }
        }
    }
    let mut found: Vec<ProcessId> = Vec::new();
    let mut frontier = vec![root];
    if let Some(&(_, _, started)) = table.iter().find(|(pid, _, _)| *pid == root) {
        found.push(ProcessId { pid: root, started });
    }
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, started) in &table {
            if ppid == parent && !found.iter().any(|p| p.pid == pid) {
                found.push(ProcessId { pid, started });
                frontier.push(pid);
            }
        }
    }
    found
}

/// The processes of one container: its main process, and every descendant seen.
#[derive(Debug)]
pub struct Tracked {
    /// The main process (also its process group).
    pub root: i32,
    seen: Mutex<BTreeSet<ProcessId>>,
}

impl Tracked {
    /// Tracks the tree under `root`.
    pub fn new(root: i32) -> Arc<Self> {
        let tracked = Arc::new(Self {
            root,
            seen: Mutex::new(BTreeSet::new()),
        });
        tracked.scan();
        tracked
    }

    /// Records the descendants living now.
    pub fn scan(&self) {
        let now = tree(self.root);
        lock(&self.seen).extend(now);
    }

    /// Sends `signal` to the main process's group.
    pub fn signal_group(&self, signal: Signal) {
        if let Some(pid) = Pid::from_raw(self.root)
            && pid != rustix::process::getpgrp()
        {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    /// SIGKILLs the main process's group and every descendant seen that still lives,
    /// with its own group.
    pub fn kill_all(&self) {
        self.scan();
        self.signal_group(Signal::KILL);
        let own_group = rustix::process::getpgrp();
        let seen: Vec<ProcessId> = lock(&self.seen).iter().copied().collect();
        for id in seen {
            if !alive(id) {
                continue;
            }
            let Some(pid) = Pid::from_raw(id.pid) else {
                continue;
            };
            if let Some((_, pgrp, _)) = stat(id.pid)
                && let Some(group) = Pid::from_raw(pgrp)
                && group != own_group
                && pgrp != 1
            {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }

    /// The descendants seen that still live (the main process included).
    pub fn living(&self) -> Vec<ProcessId> {
        self.scan();
        lock(&self.seen)
            .iter()
            .copied()
            .filter(|id| alive(*id))
            .collect()
    }
}

/// The log file of a machine.
pub fn log_path(machine_dir: &Path) -> PathBuf {
    machine_dir.join("log")
}
