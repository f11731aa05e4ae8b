//! The gRPC adapters: wire requests become domain calls on [`crate::node::Node`], answers become
//! wire responses. No rule lives here.

mod admin;
mod status;

pub use admin::AdminService;
pub use status::status_of;
