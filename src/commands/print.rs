//! `fasterclaw crd` and `fasterclaw openapi`: print a generated artifact.

use std::io::{ErrorKind, Write};

use super::Error;

/// Prints the Instance CRD as YAML, or the FleetRelease one.
pub fn crd(release: bool) -> Result<(), Error> {
    if release {
        return write_stdout(&crate::crd::fleet_release_crd_yaml()?);
    }
    write_stdout(&crate::crd::instance_crd_yaml()?)
}

/// Prints the facade's OpenAPI document.
pub fn openapi() -> Result<(), Error> {
    write_stdout(&crate::api::openapi::document_json())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
