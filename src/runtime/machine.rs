//! How a machine runs the gateway: where its state lives, the file carrying the owned
//! configuration, the start command that merges and validates it, the health check, the
//! stop signal, and the memory the gateway's heap may take.

use std::collections::BTreeMap;

use base64::Engine;

use crate::domain::AiProvider;
use crate::fly::{MachineCheck, MachineFile, MachineInit, MachineMount, StopConfig};

/// The gateway's port in the machine.
pub const GATEWAY_PORT: u16 = 18789;

/// Where the Instance's volume is mounted. Fly.io's init makes the mount point the
/// image's user's (`node`, uid 1000) at every boot, mode 0755; what is inside keeps its
/// owner (`lost+found` stays root's).
pub const VOLUME_PATH: &str = "/data";

/// OpenClaw's state directory (`OPENCLAW_STATE_DIR`): `openclaw.json`, sessions,
/// credentials, memory and the pairing store, on the volume, in a directory of its own
/// (away from the volume's root-owned `lost+found`).
pub const STATE_DIR: &str = "/data/openclaw";

/// The exit code of a start that cannot write its state directory (`EX_CANTCREAT`).
pub const STATE_UNWRITABLE_EXIT: i64 = 73;

/// Where the owned configuration is written in the machine (a plain file: no secret).
pub const CONFIG_FILE: &str = "/etc/fasterclaw/openclaw.json";

/// The gateway's liveness endpoint; it needs no token.
pub const HEALTH_PATH: &str = "/healthz";

/// The name of the machine's health check.
pub const HEALTH_CHECK: &str = "gateway";

/// The gateway's readiness endpoint: startup done, not draining, and each configured
/// channel account (the Telegram bot) usable. It needs no token.
pub const READY_PATH: &str = "/readyz";

/// The name of the machine's readiness check, on [`READY_PATH`].
pub const READY_CHECK: &str = "channels";

/// The exit code of a start whose configuration the gateway refuses (`EX_CONFIG`).
pub const CONFIG_REFUSED_EXIT: i64 = 78;

/// The app secret holding the gateway's token.
pub const GATEWAY_TOKEN_SECRET: &str = "OPENCLAW_GATEWAY_TOKEN";

/// App secrets earlier versions wrote that no machine reads any more (Google's key
/// under the name OpenClaw does not read first).
pub const RETIRED_SECRETS: &[&str] = &["GOOGLE_API_KEY"];

/// Restarts after a failed start before the machine stays stopped (Fly.io's default
/// under `on-failure`): a configuration the gateway refuses does not loop forever.
pub const RESTART_RETRIES: u32 = 10;

/// The app secret holding a provider's key, under the name OpenClaw reads.
pub fn provider_key_secret(provider: AiProvider) -> &'static str {
    match provider {
        AiProvider::Openai => "OPENAI_API_KEY",
        AiProvider::Anthropic => "ANTHROPIC_API_KEY",
        AiProvider::Google => "GEMINI_API_KEY",
    }
}

/// The program in the image, relative to its working directory (`/app`).
const ENTRY: &str = "openclaw.mjs";

/// The start command: make sure the state directory on the volume is writable (else
/// exit [`STATE_UNWRITABLE_EXIT`]), wait for carried state when asked, merge the owned
/// keys into `openclaw.json` (creating it on the first start), validate the result, then
/// become the gateway. When the merge into an existing file is refused, the file may
/// hold a key this version retired (an owner's key a previous version accepted):
/// `openclaw doctor --non-interactive` applies the version's own safe migrations of such
/// keys, as the gateway would at boot, and the merge is tried once more. A merge still
/// refused or an invalid result exits [`CONFIG_REFUSED_EXIT`] without the owned keys
/// written.
pub const START_SCRIPT: &str = "set -eu\n\
mkdir -p \"$OPENCLAW_STATE_DIR\" && touch \"$OPENCLAW_STATE_DIR/.writable\" || \
{ echo \"fasterclaw: the state directory $OPENCLAW_STATE_DIR is not writable by uid $(id -u)\" >&2; exit 73; }\n\
if [ -e /etc/fasterclaw/import-state ]; then i=0; \
while [ ! -e \"$OPENCLAW_STATE_DIR/.imported\" ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done; fi\n\
node openclaw.mjs config patch --file \"$FASTERCLAW_OPENCLAW_CONFIG\" || \
{ [ -e \"$OPENCLAW_STATE_DIR/openclaw.json\" ] && \
echo \"fasterclaw: openclaw.json was refused; applying OpenClaw's migrations of retired keys\" >&2 && \
node openclaw.mjs doctor --non-interactive >&2 && \
node openclaw.mjs config patch --file \"$FASTERCLAW_OPENCLAW_CONFIG\"; } || exit 78\n\
node openclaw.mjs config validate || exit 78\n\
exec node openclaw.mjs gateway --bind lan\n";

/// A file in the machine asking the start command to wait (up to 2 minutes) for the
/// state carried over from the machine it replaces, before the gateway starts: set
/// only on a machine made on a new volume in place of one that kept its state on its
/// root file system (an adopted machine of the original system, or one of an earlier
/// release).
pub const IMPORT_FLAG: &str = "/etc/fasterclaw/import-state";

/// The marker the import leaves in the state directory.
const IMPORTED_MARKER: &str = ".imported";

/// The flag file of [`IMPORT_FLAG`].
pub fn import_flag() -> MachineFile {
    MachineFile {
        guest_path: IMPORT_FLAG.to_owned(),
        raw_value: Some(base64::engine::general_purpose::STANDARD.encode("carried state\n")),
        secret_name: None,
        mode: Some(0o444),
    }
}

/// The command, run in a machine that keeps OpenClaw's state on its root file system,
/// that prints that state as a base64 gzip tar (nothing when there is none): its state
/// directory (`OPENCLAW_STATE_DIR`, else `~/.openclaw`), without the `.env` file of
/// secrets (the app's secrets carry those) and lock files.
pub fn export_state() -> Vec<String> {
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "d=\"${OPENCLAW_STATE_DIR:-$HOME/.openclaw}\"; [ -d \"$d\" ] || exit 0; \
         tar -czf - -C \"$d\" --exclude=./.env --exclude='*.lock' . | base64 | tr -d '\\n'"
            .to_owned(),
    ]
}

/// The command that unpacks what [`export_state`] printed (given as its input) into
/// the state directory, and marks it done so the start command goes on.
pub fn import_state() -> Vec<String> {
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "set -e; d=\"$OPENCLAW_STATE_DIR\"; mkdir -p \"$d\"; data=$(cat); \
             if [ -n \"$data\" ]; then printf %s \"$data\" | base64 -d | tar -xzf - -C \"$d\"; fi; \
             touch \"$d/{IMPORTED_MARKER}\""
        ),
    ]
}

/// An `openclaw` command line, as `exec` runs it in the machine.
pub fn cli(args: &[&str]) -> Vec<String> {
    ["node", ENTRY]
        .iter()
        .chain(args)
        .map(|part| (*part).to_owned())
        .collect()
}

/// The Node heap limit for a machine of `memory_mb`: three quarters of it, leaving room
/// for the rest of the process and the command-line tools.
pub fn heap_mb(memory_mb: u32) -> u32 {
    memory_mb / 4 * 3
}

/// The machine's environment: paths and sizes, never a secret.
pub fn env(memory_mb: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("OPENCLAW_STATE_DIR".to_owned(), STATE_DIR.to_owned()),
        ("OPENCLAW_GATEWAY_PORT".to_owned(), GATEWAY_PORT.to_string()),
        (
            "NODE_OPTIONS".to_owned(),
            format!("--max-old-space-size={}", heap_mb(memory_mb)),
        ),
        (
            "FASTERCLAW_OPENCLAW_CONFIG".to_owned(),
            CONFIG_FILE.to_owned(),
        ),
    ])
}

/// The file carrying the owned configuration, read-only.
pub fn config_file(document: &str) -> MachineFile {
    MachineFile {
        guest_path: CONFIG_FILE.to_owned(),
        raw_value: Some(base64::engine::general_purpose::STANDARD.encode(document)),
        secret_name: None,
        mode: Some(0o444),
    }
}

/// The start command, in place of the image's (its entrypoint, `tini`, stays).
pub fn init() -> MachineInit {
    MachineInit {
        cmd: vec!["sh".to_owned(), "-c".to_owned(), START_SCRIPT.to_owned()],
        ..MachineInit::default()
    }
}

/// The checks: the gateway's liveness (`/healthz`, [`HEALTH_CHECK`]) and its readiness
/// (`/readyz`, [`READY_CHECK`]: a Telegram bot whose token is refused fails it while the
/// gateway lives), probed from 10 s after the start and every 10 s. A gateway still
/// starting fails them without harm (the Instance stays STARTING until both pass), so
/// the grace is short and RUNNING follows the gateway closely.
pub fn checks() -> BTreeMap<String, MachineCheck> {
    let http = |path: &str| MachineCheck {
        kind: "http".to_owned(),
        port: GATEWAY_PORT,
        method: Some("GET".to_owned()),
        path: Some(path.to_owned()),
        interval: Some("10s".to_owned()),
        timeout: Some("5s".to_owned()),
        grace_period: Some("10s".to_owned()),
        other: BTreeMap::new(),
    };
    BTreeMap::from([
        (HEALTH_CHECK.to_owned(), http(HEALTH_PATH)),
        (READY_CHECK.to_owned(), http(READY_PATH)),
    ])
}

/// The volume holding the state directory, mounted at [`VOLUME_PATH`].
pub fn mount(volume: &str) -> MachineMount {
    MachineMount {
        volume: volume.to_owned(),
        path: VOLUME_PATH.to_owned(),
        other: BTreeMap::new(),
    }
}

/// The volume mounted at [`VOLUME_PATH`] in a machine's configuration, if any.
pub fn mounted_volume(config: &crate::fly::MachineConfig) -> Option<&str> {
    config
        .mounts
        .iter()
        .find(|m| m.path.trim_end_matches('/') == VOLUME_PATH)
        .map(|m| m.volume.as_str())
}

/// SIGTERM, and time for the gateway to finish the turn it is in.
pub fn stop_config() -> StopConfig {
    StopConfig {
        signal: Some("SIGTERM".to_owned()),
        timeout: Some("30s".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_leaves_a_quarter_of_the_machine() {
        assert_eq!(heap_mb(2048), 1536);
        assert_eq!(env(4096)["NODE_OPTIONS"], "--max-old-space-size=3072");
    }

    #[test]
    fn the_start_script_refuses_loudly_and_execs_the_gateway() {
        assert!(STATE_DIR.starts_with(VOLUME_PATH) && STATE_DIR != VOLUME_PATH);
        assert!(START_SCRIPT.contains("exit 73;"));
        assert!(START_SCRIPT.contains(IMPORT_FLAG));
        assert!(
            import_state()[2].contains(IMPORTED_MARKER) && START_SCRIPT.contains(IMPORTED_MARKER)
        );
        assert!(START_SCRIPT.contains("config patch --file \"$FASTERCLAW_OPENCLAW_CONFIG\" || "));
        assert!(START_SCRIPT.contains("doctor --non-interactive >&2 && "));
        assert!(START_SCRIPT.contains("\"$FASTERCLAW_OPENCLAW_CONFIG\"; } || exit 78\n"));
        assert!(START_SCRIPT.ends_with("exec node openclaw.mjs gateway --bind lan\n"));
        let file = config_file("{}");
        assert_eq!(file.raw_value.as_deref(), Some("e30="));
        assert_eq!(file.mode, Some(0o444));
        assert_eq!(
            cli(&["pairing", "list"]),
            ["node", "openclaw.mjs", "pairing", "list"]
        );
    }
}
