//! demix's separation engine, shared by the plugin and the command line.
//!
//! Which code runs where:
//! - audio thread: [`realtime`] (ring I/O, dry delay, underrun handling) and [`mixer`]
//!   (smoothed gains) — allocation-free and lock-free;
//! - worker thread: [`worker`] driving [`processor`] ([`stft`] + a [`separator::Separator`]
//!   such as [`classic`], then [`shaping`] and [`spatial`] on the masks);
//! - offline (CLI): [`offline`], the same [`processor`] without threads;
//! - shared: [`status`] (atomics for the GUI), [`denormals`].

pub mod classic;
pub mod denormals;
pub mod mixer;
pub mod model_meta;
pub mod neural;
pub mod offline;
pub mod ort_env;
pub mod postfx;
pub mod priority;
pub mod processor;
pub mod realtime;
pub mod separator;
pub mod shaping;
pub mod spatial;
pub mod status;
pub mod stft;
pub mod worker;

pub use realfft::num_complex::Complex32;
