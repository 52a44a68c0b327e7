//! Shared test helpers.

pub mod postgres;
