//! The neural model: its contract with the Python side ([`contract`], no ONNX Runtime needed),
//! where its files live ([`bundle`]), and — with the `neural` feature — ONNX Runtime
//! ([`runtime`]) and the separator that runs the model ([`neural`]). Loading happens on the
//! worker or a loader thread, never the audio thread.

use std::path::PathBuf;

pub mod bundle;
pub mod contract;
#[cfg(feature = "neural")]
pub mod neural;
#[cfg(feature = "neural")]
pub mod runtime;

use bundle::OrtError;
use contract::ModelError;

/// Why the neural separator could not be built. Built without the `neural` feature, the
/// engine reports [`NeuralError::NotBuilt`].
#[derive(Debug, thiserror::Error)]
pub enum NeuralError {
    /// No model file was found.
    #[error("no model ({file}) in {}", list_dirs(.searched))]
    NoModel {
        /// The file name looked for.
        file: &'static str,
        /// Directories searched.
        searched: Vec<PathBuf>,
    },
    /// The model file is unreadable, corrupt, or breaks the contract.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// ONNX Runtime could not be found or loaded.
    #[error(transparent)]
    Runtime(#[from] OrtError),
    /// ONNX Runtime refused the model or failed to set it up.
    #[error("ONNX Runtime could not load the model {path}: {message}")]
    Session {
        /// The model path.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The neural engine runs mono or stereo only.
    #[error("the neural engine supports 1 or 2 channels, not {channels}")]
    UnsupportedChannels {
        /// Channels asked for.
        channels: usize,
    },
    /// This build has no ONNX Runtime support.
    #[error("this build has no neural engine (built without the `neural` feature)")]
    NotBuilt,
}

/// `a, b, c` for an error message.
pub(crate) fn list_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "(no directories)".into();
    }
    dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
