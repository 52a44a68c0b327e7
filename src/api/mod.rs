//! The HTTP facade's contract: request and response types, the route table, and the
//! OpenAPI document generated from them.

pub mod client;
pub mod contract;
pub mod openapi;
pub mod routes;
pub mod server;
