//! FasterClaw control plane: the `Instance` custom resource, the controller that runs
//! each Instance as a Fly.io app and machine, and the HTTP facade the web app calls.
#![deny(missing_docs)]

pub mod api;
pub mod billing;
pub mod cli;
pub mod commands;
pub mod controller;
pub mod crd;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod fly;
pub mod import;
pub mod runtime;
pub mod startup;
pub mod telemetry;
pub mod tls;
