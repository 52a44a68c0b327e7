//! The command line: the subcommands (each defined beside what it runs, see
//! [`crate::commands`]) and the logging settings every one shares. Every setting can come
//! from an environment variable (named in `--help`) or a flag; secrets are held in
//! `secrecy` types from the moment they are read.

use clap::Parser;

use crate::commands::Command;
use crate::telemetry::LoggingArgs;

/// FasterClaw control plane: the Instance controller and the HTTP facade.
#[derive(Debug, Parser)]
#[command(name = "fasterclaw", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,

    /// Logging settings.
    #[command(flatten)]
    pub logging: LoggingArgs,
}

/// Reads `path` (a `.env` file, for local runs) into the environment when it exists: a
/// variable already set wins over the file. Call before anything reads the environment.
pub fn load_dotenv(path: &std::path::Path) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    dotenvy::from_path(path).map_err(|e| match e {
        // Said by line number: the line itself may hold a secret.
        dotenvy::Error::LineParse(line, _) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let first = line.lines().next().unwrap_or_default();
            let number = text
                .lines()
                .position(|l| l == first)
                .map_or_else(|| "a line".to_owned(), |n| format!("line {}", n + 1));
            format!(
                "{}: {number} does not parse (write NAME=value, and close any quote)",
                path.display()
            )
        }
        other => format!("{}: {other}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;

    fn settings(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            settings(sub, into);
        }
    }

    /// `.env.example` lists every setting of every subcommand, each under a comment.
    #[test]
    fn the_env_example_lists_every_setting_with_a_comment() {
        let mut expected = BTreeSet::new();
        settings(&super::Cli::command(), &mut expected);
        let example = include_str!("../.env.example");
        let lines: Vec<&str> = example.lines().collect();
        let setting = |line: &str| -> Option<String> {
            let (name, _) = line.trim_start_matches("# ").split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| name.to_owned())
        };
        let mut listed = BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = setting(line) else {
                continue;
            };
            let comment = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
            assert!(
                comment.starts_with("# ") && setting(comment).is_none(),
                "{name} in .env.example has no comment above it"
            );
            listed.insert(name);
        }
        assert_eq!(
            listed, expected,
            ".env.example and the command line disagree"
        );
    }
}
