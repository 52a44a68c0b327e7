//! Machines that run: with a [`MachineRuntime`] configured, a started machine is a
//! local process emulating a container of the OpenClaw image
//! (`ghcr.io/openclaw/openclaw`).
//!
//! # Images
//!
//! The config's `image` picks what runs ([`MachineRuntime::images`], matched exactly):
//! an OpenClaw package of its own ([`ImageRun::Package`], so a stable and a candidate
//! version run side by side), or a broken release ([`ImageRun::ExitsAtStart`], also
//! what the simulator's `broken_images` fault makes of an image): its container prints
//! the line of a gateway refusing its configuration and exits with code 1 at once, and
//! the restart policy applies as to any exit. Any other image runs
//! [`MachineRuntime::package`].
//!
//! # The container
//!
//! - **Filesystem.** `/app` and below (the image's `WORKDIR`) is the image's OpenClaw
//!   package dir, read-only: a `files` entry there fails the launch. A mount's `path` is the
//!   volume dir `<root>/volumes/<volume id>` (see [`disk`]), which persists across
//!   starts, updates and a new machine on the same volume. Every other path is below
//!   the machine's own root
//!   filesystem `<root>/<app>/<machine id>/rootfs/`, emptied at each start and restart
//!   like a fresh container's.
//! - **Paths in values.** An argument or environment value that is one absolute path
//!   (it starts with `/`, holds no whitespace and no `:`) is mapped as above
//!   (`OPENCLAW_STATE_DIR=/data` becomes the volume dir); other values pass unchanged,
//!   so paths written inside a script (`sh -c '… /etc/x'`) are not mapped: pass them
//!   through environment variables.
//! - **Command.** `init.exec` when given, else `init.entrypoint ++ init.cmd`, else the
//!   image's `node openclaw.mjs gateway --allow-unconfigured`, in `/app`. A program
//!   given as an absolute path the container lacks (`/bin/sh`, `/usr/local/bin/node`)
//!   is the program of the same file name on `PATH`; `node` is the configured Node
//!   binary (`<root>/.bin/node`, first on `PATH`).
//! - **Environment.** The config's `env` and the app's secrets as they are at the
//!   start, `PATH` and `HOME` (mapped `/home/node`); nothing else of the simulator's
//!   environment. `OPENCLAW_GATEWAY_PORT` naming an internal port becomes its host port.
//! - **Ports.** Each internal port named by the config's `checks` or `services` gets a
//!   free loopback host port at each start ([`crate::fly::FlySim::machine_port`],
//!   `ports` in `/_sim/state`).
//! - **Processes.** The main process has a process group of its own and the
//!   parent-death signal SIGKILL; its descendants are tracked (every half second, so a
//!   helper in a process group of its own, such as OpenClaw's spawn broker, is found),
//!   and stopping the machine, dropping the simulator or deleting the app ends all of
//!   them. A SIGKILLed simulator cannot clean up: the kernel then kills each main
//!   process (the parent-death signal), not what those processes started themselves.
//!   Output goes to `<root>/<app>/<machine id>/log`.
//! - **Stop.** `stop_config.signal` (default SIGINT, as Fly) to the group, then SIGKILL
//!   after `stop_config.timeout` (default 5 s, Fly's default `kill_timeout`); a stop
//!   request's own signal and timeout win. `stopping` becomes `stopped` once it exited.
//! - **Exits.** Each exit is an `exit` event carrying `request.exit_event`. The
//!   restart policy decides what follows (`no`; `always`; `on-failure`, the default,
//!   with `max_retries` default 10): `restarting`, then a new start after a backoff of
//!   1 s doubling up to 30 s (back to 1 s after a run of at least 60 s); else `stopped`.
//!   A launch that fails (a bad file, a missing program) leaves the machine `failed`
//!   with a `launch` event giving the reason.
//! - **Checks.** See [`checks`].
//! - **Exec.** See [`exec`].

pub mod checks;
pub mod container;
pub mod disk;
pub mod duration;
pub mod exec;
pub mod process;
pub mod restart;
mod supervisor;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use supervisor::Runtime;

/// What runs the machines of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRun {
    /// This OpenClaw package dir (holds `openclaw.mjs`) is the image's `/app`.
    Package(PathBuf),
    /// A broken release: the container exits with code 1 at start, printing a line
    /// like a gateway refusing its configuration.
    ExitsAtStart,
}

/// Where machines run: the Node binary, the OpenClaw package (per image where
/// [`MachineRuntime::images`] says) and a dir for the machines' files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineRuntime {
    /// The Node.js binary `node` resolves to.
    pub node: PathBuf,
    /// The OpenClaw package dir (holds `openclaw.mjs`): the `/app` of every image
    /// [`MachineRuntime::images`] does not name.
    pub package: PathBuf,
    /// Where root filesystems, volumes and logs go.
    pub root: PathBuf,
    /// What runs the machines of an image, by the exact reference a machine config's
    /// `image` gives (`ghcr.io/openclaw/openclaw:2026.8.2`).
    pub images: BTreeMap<String, ImageRun>,
}

impl MachineRuntime {
    /// Machines of every image run `package` with `node`, their files under `root`.
    pub fn new(node: PathBuf, package: PathBuf, root: PathBuf) -> Self {
        Self {
            node,
            package,
            root,
            images: BTreeMap::new(),
        }
    }

    /// The same, with machines of `image` run as `run` says.
    pub fn with_image(mut self, image: impl Into<String>, run: ImageRun) -> Self {
        self.images.insert(image.into(), run);
        self
    }

    /// The package that is `/app` for a machine of `image`.
    pub fn package_for(&self, image: &str) -> &Path {
        match self.images.get(image) {
            Some(ImageRun::Package(package)) => package,
            _ => &self.package,
        }
    }

    /// Whether machines of `image` exit at start ([`ImageRun::ExitsAtStart`]).
    pub fn exits_at_start(&self, image: &str) -> bool {
        self.images.get(image) == Some(&ImageRun::ExitsAtStart)
    }

    /// The dir of one machine (its `rootfs/` and `log`).
    pub fn machine_dir(&self, app: &str, machine: &str) -> PathBuf {
        self.root.join(app).join(machine)
    }

    /// The dir of a volume: what its mount path shows inside a machine.
    pub fn volume_dir(&self, volume: &str) -> PathBuf {
        self.root.join("volumes").join(volume)
    }

    /// The dir of a snapshot: a copy of its volume's dir when it was taken.
    pub fn snapshot_dir(&self, snapshot: &str) -> PathBuf {
        self.root.join("snapshots").join(snapshot)
    }

    /// The dir first on every machine's `PATH`: it holds only a `node` link.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join(".bin")
    }

    /// Creates the `node` link of [`MachineRuntime::bin_dir`].
    pub fn ensure_bin_dir(&self) -> std::io::Result<()> {
        let dir = self.bin_dir();
        std::fs::create_dir_all(&dir)?;
        let link = dir.join("node");
        if std::fs::read_link(&link).ok().as_ref() == Some(&self.node) {
            return Ok(());
        }
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::os::unix::fs::symlink(&self.node, &link)
    }
}

/// What the admin view shows of a running machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// The main process.
    pub pid: Option<u32>,
    /// Internal port → host port.
    pub ports: BTreeMap<u16, u16>,
}
