//! Stand-ins for the outside services FasterClaw talks to.
#![deny(missing_docs)]
