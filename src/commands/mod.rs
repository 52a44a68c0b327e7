//! What each subcommand does.

mod print;

use crate::cli::Command;

/// Why a subcommand failed. Each message is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The subcommand's capability is not part of this build yet.
    #[error("`fasterclaw {0}` is not available in this build yet")]
    NotYetAvailable(&'static str),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The CRD could not be rendered as YAML.
    #[error("cannot render the CRD as YAML: {0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// Runs a subcommand to completion.
pub async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Controller => Err(Error::NotYetAvailable("controller")),
        Command::Api => Err(Error::NotYetAvailable("api")),
        Command::Crd => print::crd(),
        Command::Openapi => print::openapi(),
        Command::Migrate(_) => Err(Error::NotYetAvailable("migrate")),
    }
}
