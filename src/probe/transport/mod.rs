//! Step 2 (probe), beneath the check kinds: the transports they dial through. Name
//! resolution, a fresh TCP connection from the region's source address, the TLS
//! handshake with a certificate verifier that records the chain, and the prober's ICMP
//! sockets. Transports know no probe kind; each step fails with a typed [`Failure`].
//!
//! [`Failure`]: super::Failure

mod connect;
pub mod icmp;
mod resolve;
pub mod tls;
mod verify;

pub(crate) use connect::{conn_info, connect, open_socket};
pub(crate) use resolve::resolve;
