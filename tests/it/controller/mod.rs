//! `fasterclaw controller` end to end, as a process: against a real kube-apiserver
//! (and the simulator for the faults a real server cannot inject), the Fly.io
//! simulator and Postgres.

mod hardening;
mod health;
mod lifecycle;
mod oldest;
mod operations;
pub(crate) mod release;
mod resilience;
mod storage;
