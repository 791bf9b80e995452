//! The `demix` command line as a library (the binary is a thin clap front end), so the
//! integration tests can call the same code.

pub mod audio;
pub mod baseline;
pub mod bench;
pub mod bsseval;
pub mod engines;
pub mod eval;
pub mod metrics;
pub mod plot;
pub mod separate;
