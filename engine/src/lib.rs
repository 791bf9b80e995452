//! demix's separation engine, shared by the plugin and the command line.
//!
//! The folders say which thread may run the code:
//! - [`audio_thread`]: the host's audio thread ([`audio_thread::realtime`] ring I/O, dry delay
//!   and underrun handling, [`audio_thread::mixer`] smoothed gains). Allocation-free,
//!   lock-free, never waits in real-time mode.
//! - [`worker`]: the separation worker thread ([`worker::processor`] runs one hop through the
//!   STFT, a separator and the shaping) and its offline twin for the CLI
//!   ([`worker::offline`]), plus thread priority.
//! - [`dsp`]: signal processing used by the worker (STFT, the [`dsp::separator::Separator`]
//!   trait, the classic separator, shaping, stereo refinement, vocal post-effects) and the
//!   few helpers the audio thread also calls ([`dsp::denormals`], [`dsp::db`]).
//! - [`model`]: the neural model — its contract, where its files live, and (with the `neural`
//!   feature) ONNX Runtime and the neural separator. Loading runs on the worker or a loader
//!   thread, never the audio thread.
//! - [`sync`]: what the threads share — the status atomics the GUI reads, the typed
//!   [`sync::notice::EngineNotice`], and the atomics the audio thread writes for the worker.
//! - [`stem`]: the stems, their order and names.

pub mod audio_thread;
pub mod dsp;
pub mod model;
pub mod stem;
pub mod sync;
pub mod worker;

pub use realfft::num_complex::Complex32;
