//! The `demix` command line as a library (the binary is a thin clap front end), so the
//! integration tests can call the same code.

pub mod audio;
pub mod bench;
pub mod bsseval;
pub mod engines;
pub mod eval;
pub mod metrics;
pub mod separate;
