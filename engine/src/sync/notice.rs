//! What the engine tells the user: a typed notice, written by the loader and the worker, read
//! by the GUI (never by the audio thread). The GUI decides how to show it from its variant and
//! [`Severity`], never from its text.

use std::fmt;
use std::sync::Arc;

use crate::model::NeuralError;

/// How a notice should be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Normal operation.
    Info,
    /// Something the user may want to fix; audio is separated (by another engine).
    Warning,
    /// Separation has stopped; audio passes through dry.
    Error,
}

/// The engine's latest notice.
#[derive(Debug, Clone, Default)]
pub enum EngineNotice {
    /// Nothing to report yet.
    #[default]
    None,
    /// The neural model is being loaded on the worker.
    LoadingModel,
    /// The neural model is loaded and ready.
    ModelLoaded {
        /// The separator's name (the model's name and version).
        name: String,
    },
    /// The neural engine cannot run; the Classic engine runs instead.
    NeuralUnavailable(Arc<NeuralError>),
    /// The worker thread could not be started; audio passes through dry.
    WorkerNotStarted {
        /// The operating system's reason.
        reason: Arc<std::io::Error>,
    },
    /// The worker thread stopped after an internal error; audio passes through dry.
    WorkerStopped,
}

impl EngineNotice {
    /// How serious the notice is.
    pub fn severity(&self) -> Severity {
        match self {
            EngineNotice::None | EngineNotice::LoadingModel | EngineNotice::ModelLoaded { .. } => {
                Severity::Info
            }
            EngineNotice::NeuralUnavailable(_) => Severity::Warning,
            EngineNotice::WorkerNotStarted { .. } | EngineNotice::WorkerStopped => Severity::Error,
        }
    }

    /// The neural engine's error, if this notice says it is unavailable.
    pub fn neural_error(&self) -> Option<&NeuralError> {
        match self {
            EngineNotice::NeuralUnavailable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NeuralError> for EngineNotice {
    fn from(e: NeuralError) -> Self {
        EngineNotice::NeuralUnavailable(Arc::new(e))
    }
}

impl fmt::Display for EngineNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineNotice::None => Ok(()),
            EngineNotice::LoadingModel => f.write_str("Loading the neural model…"),
            EngineNotice::ModelLoaded { name } => write!(f, "Model loaded: {name}"),
            EngineNotice::NeuralUnavailable(e) => {
                write!(f, "Neural engine unavailable, using Classic: {e}")
            }
            EngineNotice::WorkerNotStarted { reason } => write!(
                f,
                "Could not start the separation thread ({reason}); passing audio through dry."
            ),
            EngineNotice::WorkerStopped => f.write_str(
                "The separation worker stopped after an internal error; passing audio through dry.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_and_text() {
        let n = EngineNotice::from(NeuralError::UnsupportedChannels { channels: 3 });
        assert_eq!(n.severity(), Severity::Warning);
        assert!(matches!(n.neural_error(), Some(NeuralError::UnsupportedChannels { channels: 3 })));
        assert!(n.to_string().starts_with("Neural engine unavailable, using Classic: "));
        assert_eq!(EngineNotice::WorkerStopped.severity(), Severity::Error);
        assert_eq!(EngineNotice::ModelLoaded { name: "m".into() }.severity(), Severity::Info);
        assert_eq!(EngineNotice::None.to_string(), "");
    }
}
