//! The real OpenClaw, as `./scripts/test` installs it: the pinned npm package, the
//! previous supported one, and a Node.js 24 to run them (`FASTERCLAW_OPENCLAW`,
//! `FASTERCLAW_OPENCLAW_PREVIOUS`, `FASTERCLAW_NODE`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The installed package and the Node.js that runs it.
pub struct OpenClaw {
    /// The `node` binary.
    pub node: PathBuf,
    /// The package directory (holding `openclaw.mjs` and `package.json`).
    pub package: PathBuf,
}

impl OpenClaw {
    /// The installation the test command prepared; a test without it fails saying how
    /// to run it.
    pub fn installed() -> Self {
        Self::from_env("FASTERCLAW_OPENCLAW")
    }

    /// The previous supported version's package (`src/runtime/openclaw.previous.version`,
    /// `FASTERCLAW_OPENCLAW_PREVIOUS`) with the same Node.js.
    pub fn previous() -> Self {
        Self::from_env("FASTERCLAW_OPENCLAW_PREVIOUS")
    }

    fn from_env(package: &str) -> Self {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
                panic!(
                    "{name} is not set: these tests run the real OpenClaw. Run ./scripts/test, or \
                     `source scripts/lib/tools.sh; source scripts/lib/openclaw.sh; openclaw_up` \
                     (it installs Node.js 24 and the pinned and previous openclaw packages under \
                     target/openclaw and exports FASTERCLAW_NODE, FASTERCLAW_OPENCLAW and \
                     FASTERCLAW_OPENCLAW_PREVIOUS)"
                )
            })
        };
        let found = Self {
            node: var("FASTERCLAW_NODE"),
            package: var(package),
        };
        assert!(
            found.package.join("openclaw.mjs").is_file(),
            "{package}={} holds no openclaw.mjs",
            found.package.display()
        );
        found
    }

    /// The package's `package.json`.
    pub fn package_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.package.join("package.json"))
            .expect("the package has a package.json");
        serde_json::from_str(&text).expect("package.json is JSON")
    }

    /// A directory holding only a `node` link, to put first on a PATH (the Node.js
    /// wheel's own directory holds npm shims that do not run).
    pub fn bin_dir(&self, under: &Path) -> PathBuf {
        let bin = under.join(".bin");
        std::fs::create_dir_all(&bin).expect("a bin directory");
        let link = bin.join("node");
        if !link.exists() {
            std::os::unix::fs::symlink(&self.node, &link).expect("a node link");
        }
        bin
    }

    /// Runs `sh -c script` as a machine would (in the package directory, `node` first on
    /// PATH), with only `env` besides PATH and HOME.
    pub fn sh(&self, scratch: &Path, script: &str, env: &[(&str, &str)]) -> Output {
        let path = format!("{}:/usr/bin:/bin", self.bin_dir(scratch).display());
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&self.package)
            .env_clear()
            .env("PATH", path)
            .env("HOME", scratch)
            .envs(env.iter().copied())
            .output()
            .expect("sh runs")
    }
}
