//! The integration tests: one binary, one module per area.

mod assistant;
mod billing;
mod chart;
mod clients;
mod controller;
mod crd_on_kubernetes;
mod dev;
mod facade;
mod fly;
mod generated;
mod import;
mod kube;
mod openapi_document;
mod runtime;
mod runtime_versions;
mod standins;
mod store;
mod structure;
mod support;
