//! The Fly.io Machines API: a typed client that retries what may pass, never provokes
//! Fly's rate limits in normal operation and never duplicates an app or a machine after
//! an ambiguous failure; and the mapping from machine states to Instance phases.

mod client;
mod config;
mod error;
mod limits;
mod retry;
mod state;
mod types;
mod volumes;

pub use client::{AppCreation, CREATE_REQUEST_TAG, CallObserver, FlyClient};
pub use config::{FlyArgs, FlyConfig};
pub use error::{FlyError, FlyErrorCode, Shortage};
pub use retry::{RetryPolicy, parse_retry_after};
pub use state::MachineState;
pub use types::{
    App, AppOrganization, AppSecret, CheckStatus, CreateAppRequest, CreateMachine, Deleted,
    ExecRequest, ExecResponse, Guest, Machine, MachineCheck, MachineConfig, MachineEvent,
    MachineExit, MachineFile, MachineFilter, MachineInit, MachineMount, RestartPolicy, StopConfig,
    UpdateMachine, WaitResponse, WaitState,
};
pub use volumes::{CreateVolume, ExtendedVolume, Volume, VolumeSnapshot};
