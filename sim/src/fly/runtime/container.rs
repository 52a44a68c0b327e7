//! The container a machine's config describes, laid out on the host: where each guest
//! path lives, the command line, the environment, the files written before start, and
//! the reset of the root filesystem at each start.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use super::MachineRuntime;

/// The image's working directory: the OpenClaw package.
pub const APP_DIR: &str = "/app";

/// The image's user's home (`node`, uid 1000).
pub const HOME: &str = "/home/node";

/// The image's default command (`CMD` of the OpenClaw image, run in `/app`).
pub const DEFAULT_COMMAND: [&str; 4] = ["node", "openclaw.mjs", "gateway", "--allow-unconfigured"];

/// The environment variable OpenClaw's gateway takes its port from.
pub const GATEWAY_PORT_ENV: &str = "OPENCLAW_GATEWAY_PORT";

/// Why a machine cannot be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A file was to be written under the read-only image directory.
    #[error("file {0}: {APP_DIR} is part of the image and read-only")]
    ReadOnly(String),
    /// A `files` entry is malformed.
    #[error("file {path}: {reason}")]
    BadFile {
        /// The guest path given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The command's program is not in the container.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    ProgramNotFound(String),
    /// The command line is empty.
    #[error("the machine has no command to run")]
    EmptyCommand,
    /// The machine (or its app) no longer exists.
    #[error("the machine no longer exists")]
    Gone,
    /// The app's secrets are older than the machine asks for.
    #[error("secrets version {wanted} is not available (the app is at version {current})")]
    SecretsVersion {
        /// `min_secrets_version` of the machine.
        wanted: u64,
        /// The app's secrets version.
        current: u64,
    },
    /// The host refused something.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl LaunchError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Where the guest's paths live on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// What `/app` maps to: the OpenClaw package.
    pub package: PathBuf,
    /// The machine's root filesystem: every other path maps below it.
    pub rootfs: PathBuf,
    /// Mounts as `(guest path, host dir)`, longest guest path first.
    pub mounts: Vec<(String, PathBuf)>,
}

/// A guest path with `.` and `..` resolved, never above `/`; `None` when not absolute.
pub fn normalize(guest: &str) -> Option<String> {
    if !guest.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(guest).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// `path` relative to `base` when it is `base` or below it.
fn below<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

impl Layout {
    /// The host path of a guest path. `/app` and below map into the package, a mount
    /// and below into its volume dir, anything else into the root filesystem.
    /// A relative path is returned as it is (the process runs in `/app`).
    pub fn map(&self, guest: &str) -> PathBuf {
        let Some(path) = normalize(guest) else {
            return PathBuf::from(guest);
        };
        if let Some(rest) = below(&path, APP_DIR) {
            return join(&self.package, rest);
        }
        for (mount, dir) in &self.mounts {
            if let Some(rest) = below(&path, mount) {
                return join(dir, rest);
            }
        }
        join(&self.rootfs, path.trim_start_matches('/'))
    }

    /// Whether a guest path is in the read-only image directory `/app`.
    pub fn in_image(&self, guest: &str) -> bool {
        normalize(guest).is_some_and(|p| below(&p, APP_DIR).is_some())
    }

    /// An argument or environment value as the process sees it: a value that is one
    /// absolute path (it starts with `/` and holds no whitespace and no `:`) is mapped
    /// with [`Layout::map`]; anything else (words, numbers, URLs, scripts, lists) is
    /// left as it is.
    pub fn map_value(&self, value: &str) -> String {
        if looks_like_path(value) {
            self.map(value).to_string_lossy().into_owned()
        } else {
            value.to_owned()
        }
    }
}

fn looks_like_path(value: &str) -> bool {
    value.starts_with('/') && !value.contains(':') && !value.chars().any(char::is_whitespace)
}

fn join(base: &Path, rest: &str) -> PathBuf {
    if rest.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

/// The command line of a machine config: `init.exec` when given; else
/// `init.entrypoint ++ init.cmd` when either is given; else the image's default.
pub fn command_line(config: &Value) -> Vec<String> {
    let list = |key: &str| -> Vec<String> {
        config["init"][key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let exec = list("exec");
    if !exec.is_empty() {
        return exec;
    }
    let mut line = list("entrypoint");
    line.extend(list("cmd"));
    if line.is_empty() {
        DEFAULT_COMMAND.iter().map(|s| (*s).to_owned()).collect()
    } else {
        line
    }
}

/// The command of a broken release's container: it prints the lines of a gateway
/// refusing its configuration (naming the image) and exits with code 1.
pub fn broken_release_command(image: &str) -> Vec<String> {
    [
        "sh",
        "-c",
        "echo \"OpenClaw config is invalid: ${OPENCLAW_STATE_DIR:-$HOME/.openclaw}/openclaw.json\" >&2; \
         echo \"  x <root>: the gateway of $0 refuses its configuration (a broken release)\" >&2; exit 1",
        image,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// The internal ports a machine's checks and services name.
pub fn internal_ports(config: &Value) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    let mut add = |value: &Value| {
        if let Some(port) = value.as_u64().and_then(|p| u16::try_from(p).ok())
            && port != 0
        {
            ports.insert(port);
        }
    };
    if let Some(checks) = config["checks"].as_object() {
        for check in checks.values() {
            add(&check["port"]);
        }
    }
    if let Some(services) = config["services"].as_array() {
        for service in services {
            add(&service["internal_port"]);
            if let Some(checks) = service["checks"].as_array() {
                for check in checks {
                    add(&check["port"]);
                }
            }
        }
    }
    ports
}

/// A mount's volume dir name: the volume id, else its name, made safe as one path
/// component.
fn volume_dir_name(mount: &Value) -> String {
    let raw = mount["volume"]
        .as_str()
        .filter(|v| !v.is_empty())
        .or_else(|| mount["name"].as_str().filter(|v| !v.is_empty()))
        .unwrap_or("volume");
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.chars().all(|c| c == '.') {
        "volume".to_owned()
    } else {
        safe
    }
}

/// A file to write before start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// The guest path.
    pub guest_path: String,
    /// Where it goes on the host.
    pub host_path: PathBuf,
    /// Its contents.
    pub contents: Vec<u8>,
    /// Its permission bits.
    pub mode: u32,
}

/// Everything needed to run a process in a machine's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Where the guest's paths live.
    pub layout: Layout,
    /// The environment, complete (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// The working directory (mapped `/app`).
    pub cwd: PathBuf,
    /// The directories of `PATH`, in order.
    pub path: Vec<PathBuf>,
    /// Internal port → host port.
    pub ports: BTreeMap<u16, u16>,
    /// Files to write before start.
    pub files: Vec<PlannedFile>,
}

/// What a container is planned from.
#[derive(Debug)]
pub struct Spec<'a> {
    /// The runtime's configuration.
    pub runtime: &'a MachineRuntime,
    /// The machine's app.
    pub app: &'a str,
    /// The machine's id.
    pub machine: &'a str,
    /// The machine's config.
    pub config: &'a Value,
    /// The app's secrets.
    pub secrets: &'a BTreeMap<String, String>,
    /// Internal port → host port.
    pub ports: BTreeMap<u16, u16>,
}

/// Plans the container of a machine: its layout, environment and files.
///
/// The environment is the config's `env`, then the app's secrets (a secret wins over
/// an `env` entry of the same name), each value mapped with [`Layout::map_value`];
/// `OPENCLAW_GATEWAY_PORT` naming an internal port is replaced by its host port; then
/// `PATH` (`<root>/.bin` holding only `node`, then the simulator's own `PATH` without
/// the Node binary's directory) and `HOME` (mapped `/home/node`).
pub fn plan(spec: &Spec<'_>) -> Result<Container, LaunchError> {
    let dir = spec.runtime.machine_dir(spec.app, spec.machine);
    let mut mounts: Vec<(String, PathBuf)> = spec.config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|mount| {
            let path = normalize(mount["path"].as_str()?)?;
            let host = spec
                .runtime
                .root
                .join("volumes")
                .join(volume_dir_name(mount));
            Some((path, host))
        })
        .collect();
    mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    let image = spec.config["image"].as_str().unwrap_or_default();
    let layout = Layout {
        package: spec.runtime.package_for(image).to_path_buf(),
        rootfs: dir.join("rootfs"),
        mounts,
    };

    let mut env = BTreeMap::new();
    if let Some(vars) = spec.config["env"].as_object() {
        for (name, value) in vars {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            env.insert(name.clone(), value);
        }
    }
    for (name, value) in spec.secrets {
        env.insert(name.clone(), value.clone());
    }
    for value in env.values_mut() {
        *value = layout.map_value(value);
    }
    if let Some(port) = env
        .get(GATEWAY_PORT_ENV)
        .and_then(|p| p.parse::<u16>().ok())
        && let Some(host) = spec.ports.get(&port)
    {
        env.insert(GATEWAY_PORT_ENV.to_owned(), host.to_string());
    }
    let path = search_path(spec.runtime);
    env.insert("PATH".to_owned(), join_path(&path));
    env.insert(
        "HOME".to_owned(),
        layout.map(HOME).to_string_lossy().into_owned(),
    );

    let files = plan_files(spec.config, spec.secrets, &layout)?;
    Ok(Container {
        cwd: layout.map(APP_DIR),
        layout,
        env,
        path,
        ports: spec.ports.clone(),
        files,
    })
}

/// The directories of the container's `PATH`: `<root>/.bin` first, then the host's
/// `PATH` without the Node binary's own directory (it holds npm shims that do not
/// work from there).
pub fn search_path(runtime: &MachineRuntime) -> Vec<PathBuf> {
    let node_dir = runtime.node.parent().map(Path::to_path_buf);
    let host = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![runtime.bin_dir()];
    dirs.extend(
        std::env::split_paths(&host)
            .filter(|d| !d.as_os_str().is_empty())
            .filter(|d| Some(d) != node_dir.as_ref()),
    );
    dirs
}

fn join_path(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn plan_files(
    config: &Value,
    secrets: &BTreeMap<String, String>,
    layout: &Layout,
) -> Result<Vec<PlannedFile>, LaunchError> {
    let mut files = Vec::new();
    for file in config["files"].as_array().into_iter().flatten() {
        let guest = file["guest_path"].as_str().unwrap_or_default().to_owned();
        let bad = |reason: &str| LaunchError::BadFile {
            path: guest.clone(),
            reason: reason.to_owned(),
        };
        if normalize(&guest).is_none() {
            return Err(bad("guest_path must be an absolute path"));
        }
        if layout.in_image(&guest) {
            return Err(LaunchError::ReadOnly(guest));
        }
        let encoded = match (file["raw_value"].as_str(), file["secret_name"].as_str()) {
            (Some(raw), _) => raw.to_owned(),
            (None, Some(name)) => secrets
                .get(name)
                .cloned()
                .ok_or_else(|| bad(&format!("secret {name} is not set")))?,
            (None, None) => return Err(bad("one of raw_value or secret_name must be set")),
        };
        let contents = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| bad(&format!("not base64: {e}")))?;
        let mode = file["mode"]
            .as_u64()
            .and_then(|m| u32::try_from(m & 0o7777).ok())
            .unwrap_or(0o644);
        files.push(PlannedFile {
            host_path: layout.map(&guest),
            guest_path: guest,
            contents,
            mode,
        });
    }
    Ok(files)
}

/// Finds a program as the container would: a name without `/` on `PATH`; an absolute
/// path in the container (mapped), else, when the container lacks it (`/bin/sh`,
/// `/usr/local/bin/node`), the program of the same file name on `PATH`; a relative
/// path from the working directory.
pub fn resolve_program(program: &str, container: &Container) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if !program.contains('/') {
        return on_path(program, &container.path);
    }
    if program.starts_with('/') {
        let mapped = container.layout.map(program);
        if is_executable(&mapped) {
            return Some(mapped);
        }
        let name = Path::new(program).file_name()?.to_str()?;
        return on_path(name, &container.path);
    }
    let relative = container.cwd.join(program);
    is_executable(&relative).then_some(relative)
}

fn on_path(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resets the root filesystem (emptied, as a fresh container's), creates the home and
/// the volume dirs (which persist), and writes the planned files with their modes.
pub fn prepare(container: &Container) -> Result<(), LaunchError> {
    let rootfs = &container.layout.rootfs;
    match fs::remove_dir_all(rootfs) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LaunchError::io("resetting the root filesystem", e)),
    }
    fs::create_dir_all(rootfs).map_err(|e| LaunchError::io("creating the rootfs", e))?;
    let home = container.layout.map(HOME);
    fs::create_dir_all(&home).map_err(|e| LaunchError::io("creating the home dir", e))?;
    for (path, dir) in &container.layout.mounts {
        fs::create_dir_all(dir).map_err(|e| LaunchError::io(format!("mount {path}"), e))?;
    }
    for file in &container.files {
        let context = |what: &str| format!("file {}: {what}", file.guest_path);
        if let Some(parent) = file.host_path.parent() {
            fs::create_dir_all(parent).map_err(|e| LaunchError::io(context("mkdir"), e))?;
        }
        match fs::remove_file(&file.host_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LaunchError::io(context("replace"), e)),
        }
        fs::write(&file.host_path, &file.contents)
            .map_err(|e| LaunchError::io(context("write"), e))?;
        fs::set_permissions(&file.host_path, fs::Permissions::from_mode(file.mode))
            .map_err(|e| LaunchError::io(context("chmod"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runtime() -> MachineRuntime {
        MachineRuntime::new(
            PathBuf::from("/opt/node/bin/node"),
            PathBuf::from("/pkg/openclaw"),
            PathBuf::from("/machines"),
        )
    }

    fn layout() -> Layout {
        Layout {
            package: PathBuf::from("/pkg/openclaw"),
            rootfs: PathBuf::from("/machines/app/m1/rootfs"),
            mounts: vec![("/data".to_owned(), PathBuf::from("/machines/volumes/vol_1"))],
        }
    }

    #[test]
    fn paths_map_into_the_package_the_volumes_and_the_rootfs() {
        let l = layout();
        assert_eq!(l.map("/app"), PathBuf::from("/pkg/openclaw"));
        assert_eq!(
            l.map("/app/openclaw.mjs"),
            PathBuf::from("/pkg/openclaw/openclaw.mjs")
        );
        assert_eq!(l.map("/data"), PathBuf::from("/machines/volumes/vol_1"));
        assert_eq!(
            l.map("/data/openclaw.json"),
            PathBuf::from("/machines/volumes/vol_1/openclaw.json")
        );
        assert_eq!(
            l.map("/database"),
            PathBuf::from("/machines/app/m1/rootfs/database")
        );
        assert_eq!(
            l.map("/etc/fasterclaw/openclaw.json"),
            PathBuf::from("/machines/app/m1/rootfs/etc/fasterclaw/openclaw.json")
        );
        assert_eq!(l.map("/"), PathBuf::from("/machines/app/m1/rootfs"));
        assert_eq!(
            l.map("/app/../etc/x"),
            PathBuf::from("/machines/app/m1/rootfs/etc/x")
        );
        assert_eq!(
            l.map("/../../etc"),
            PathBuf::from("/machines/app/m1/rootfs/etc")
        );
        assert_eq!(l.map("relative/x"), PathBuf::from("relative/x"));
        assert!(l.in_image("/app/x") && l.in_image("/app") && !l.in_image("/apple"));
    }

    #[test]
    fn only_single_absolute_paths_are_mapped_in_values() {
        let l = layout();
        assert_eq!(l.map_value("/data"), "/machines/volumes/vol_1");
        assert_eq!(l.map_value("18789"), "18789");
        assert_eq!(
            l.map_value("--max-old-space-size=1536"),
            "--max-old-space-size=1536"
        );
        assert_eq!(l.map_value("http://x/y"), "http://x/y");
        assert_eq!(l.map_value("/a:/b"), "/a:/b");
        assert_eq!(l.map_value("/bin/sh -c x"), "/bin/sh -c x");
    }

    #[test]
    fn the_command_line_is_entrypoint_and_cmd_or_the_image_default() {
        assert_eq!(
            command_line(&json!({})),
            vec!["node", "openclaw.mjs", "gateway", "--allow-unconfigured"]
        );
        assert_eq!(
            command_line(&json!({"init": {"cmd": ["sh", "-c", "x"]}})),
            vec!["sh", "-c", "x"]
        );
        assert_eq!(
            command_line(&json!({"init": {"entrypoint": ["tini", "--"], "cmd": ["node"]}})),
            vec!["tini", "--", "node"]
        );
        assert_eq!(
            command_line(&json!({"init": {"exec": ["/bin/true"], "cmd": ["x"]}})),
            vec!["/bin/true"]
        );
    }

    #[test]
    fn ports_come_from_checks_and_services() {
        let config = json!({
            "checks": {"gateway": {"port": 18789}},
            "services": [{"internal_port": 8080, "checks": [{"port": 9090}]}]
        });
        assert_eq!(
            internal_ports(&config).into_iter().collect::<Vec<_>>(),
            vec![8080, 9090, 18789]
        );
    }

    #[test]
    fn the_plan_maps_env_replaces_the_gateway_port_and_refuses_app_files() {
        let rt = runtime();
        let config = json!({
            "env": {"OPENCLAW_STATE_DIR": "/data", "OPENCLAW_GATEWAY_PORT": "18789", "N": 3},
            "mounts": [{"volume": "vol_1", "path": "/data"}],
            "files": [{"guest_path": "/etc/x.json", "raw_value": "e30=", "mode": 292},
                      {"guest_path": "/data/s", "secret_name": "FILE"}]
        });
        let secrets = BTreeMap::from([
            ("TOKEN".to_owned(), "t".to_owned()),
            ("FILE".to_owned(), "aGk=".to_owned()),
        ]);
        let spec = Spec {
            runtime: &rt,
            app: "app",
            machine: "m1",
            config: &config,
            secrets: &secrets,
            ports: BTreeMap::from([(18789, 40000)]),
        };
        let c = plan(&spec).unwrap();
        assert_eq!(c.env["OPENCLAW_STATE_DIR"], "/machines/volumes/vol_1");
        assert_eq!(c.env["OPENCLAW_GATEWAY_PORT"], "40000");
        assert_eq!(c.env["N"], "3");
        assert_eq!(c.env["TOKEN"], "t");
        assert_eq!(c.env["HOME"], "/machines/app/m1/rootfs/home/node");
        assert!(c.env["PATH"].starts_with("/machines/.bin"));
        assert!(!c.env["PATH"].split(':').any(|d| d == "/opt/node/bin"));
        assert_eq!(c.cwd, PathBuf::from("/pkg/openclaw"));
        assert_eq!(c.files[0].contents, b"{}");
        assert_eq!(c.files[0].mode, 0o444);
        assert_eq!(
            c.files[0].host_path,
            PathBuf::from("/machines/app/m1/rootfs/etc/x.json")
        );
        assert_eq!(c.files[1].contents, b"hi");
        assert_eq!(c.files[1].mode, 0o644);

        let config = json!({"files": [{"guest_path": "/app/x", "raw_value": ""}]});
        let spec = Spec {
            config: &config,
            ..spec
        };
        assert!(matches!(plan(&spec), Err(LaunchError::ReadOnly(p)) if p == "/app/x"));
    }

    #[test]
    fn an_image_in_the_map_runs_its_own_package_and_others_the_default() {
        use super::super::ImageRun;
        let rt = runtime()
            .with_image(
                "ghcr.io/openclaw/openclaw:2026.8.2",
                ImageRun::Package(PathBuf::from("/pkg/openclaw-2026.8.2")),
            )
            .with_image("ghcr.io/openclaw/openclaw:9.9.9", ImageRun::ExitsAtStart);
        let secrets = BTreeMap::new();
        let cwd = |image: &str| {
            let config = json!({ "image": image });
            plan(&Spec {
                runtime: &rt,
                app: "app",
                machine: "m1",
                config: &config,
                secrets: &secrets,
                ports: BTreeMap::new(),
            })
            .unwrap()
            .cwd
        };
        assert_eq!(
            cwd("ghcr.io/openclaw/openclaw:2026.8.2"),
            PathBuf::from("/pkg/openclaw-2026.8.2")
        );
        assert_eq!(
            cwd("ghcr.io/openclaw/openclaw:2026.9.6"),
            PathBuf::from("/pkg/openclaw")
        );
        assert_eq!(
            cwd("ghcr.io/openclaw/openclaw:9.9.9"),
            PathBuf::from("/pkg/openclaw")
        );
        assert!(rt.exits_at_start("ghcr.io/openclaw/openclaw:9.9.9"));
        assert!(!rt.exits_at_start("ghcr.io/openclaw/openclaw:2026.8.2"));
    }
}
