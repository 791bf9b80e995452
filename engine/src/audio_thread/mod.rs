//! Code that runs on the host's audio thread: no allocation, no locks, no waiting (except an
//! offline render, which may wait for the worker).

pub mod dry_delay;
pub mod fallback;
pub mod mixer;
pub mod realtime;
