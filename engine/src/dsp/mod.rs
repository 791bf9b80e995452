//! Signal processing. Everything here runs on the worker thread (or the CLI's offline path),
//! except [`denormals`] and [`db`], which the audio thread also calls.

pub mod classic;
pub mod db;
pub mod denormals;
pub mod postfx;
pub mod separator;
pub mod shaping;
pub mod spatial;
pub mod stft;
