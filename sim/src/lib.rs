//! Stand-ins for the outside services FasterClaw talks to, built from their public
//! specifications and speaking their real wire protocols: the Fly.io Machines API
//! ([`fly`]), the Kubernetes API server ([`kube`]), Stripe ([`stripe`]), Telegram's Bot API
//! ([`telegram`]), Google's OpenID Connect provider ([`google`]) and the model APIs an OpenClaw gateway calls ([`models`]). Tests embed them in-process;
//! `fasterclaw-sim` runs them as processes.
//! None of this is part of the production image.
#![deny(missing_docs)]
// Stripe's objects, written as `json!` literals, nest deeper than the default allows.
#![recursion_limit = "256"]

pub mod dev;
pub mod fly;
pub mod google;
pub mod kube;
pub mod models;
pub mod stripe;
pub mod sync;
pub mod telegram;
