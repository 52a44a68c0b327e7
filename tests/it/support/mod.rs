//! Shared test helpers.

pub mod cluster;
pub mod envtest;
pub mod postgres;
pub mod stack;
