//! Shared test helpers.

pub mod cluster;
pub mod envtest;
pub mod openclaw;
pub mod postgres;
pub mod stack;
