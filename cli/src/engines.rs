//! Which separator the CLI runs, and the STFT it runs at. Everything engine-specific lives
//! here, so wiring the neural engine is a change to [`neural_separator`] and [`stft_config`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use demix_engine::classic::ClassicSeparator;
use demix_engine::separator::Separator;
use demix_engine::stft::StftConfig;

/// The separator the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The neural model if it loads, else the classical engine (with a warning).
    Auto,
    /// The neural model (ONNX); an error if it cannot be loaded.
    Neural,
    /// The classical DSP separator (no model).
    Classic,
}

/// Model file used when `--model` is not given: `$DEMIX_MODEL`, else `models/demix.onnx`.
pub fn default_model_path() -> PathBuf {
    std::env::var_os("DEMIX_MODEL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models/demix.onnx"))
}

/// STFT configuration for `engine` at `sample_rate_hz`. The neural model dictates its base
/// configuration (defined at 44.1 kHz); it is scaled so bins keep their frequencies.
pub fn stft_config(engine: ResolvedEngine, sample_rate_hz: u32) -> StftConfig {
    let base = match engine {
        ResolvedEngine::Classic | ResolvedEngine::Neural => StftConfig::DEFAULT_44K,
    };
    StftConfig::scaled(base, 44100.0, sample_rate_hz as f64)
}

/// The engine actually used, after `auto` was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedEngine {
    /// Neural model.
    Neural,
    /// Classical DSP.
    Classic,
}

impl ResolvedEngine {
    /// Lower-case name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ResolvedEngine::Neural => "neural",
            ResolvedEngine::Classic => "classic",
        }
    }
}

/// Decides once per run which engine to use: checks that the model can be loaded for
/// `neural`, falls back to classic for `auto`. Returns the engine and warnings to print.
pub fn resolve(choice: EngineChoice, model: Option<&Path>) -> Result<(ResolvedEngine, Vec<String>)> {
    let model_path = model.map(Path::to_path_buf).unwrap_or_else(default_model_path);
    match choice {
        EngineChoice::Classic => Ok((ResolvedEngine::Classic, vec![])),
        EngineChoice::Neural => match neural_available(&model_path) {
            Ok(()) => Ok((ResolvedEngine::Neural, vec![])),
            Err(e) => bail!("neural engine unavailable: {e} (use --engine classic)"),
        },
        EngineChoice::Auto => match neural_available(&model_path) {
            Ok(()) => Ok((ResolvedEngine::Neural, vec![])),
            Err(e) => Ok((
                ResolvedEngine::Classic,
                vec![format!("neural engine unavailable ({e}); using the classical engine")],
            )),
        },
    }
}

/// Builds a fresh separator (one per file, so no state leaks between files).
pub fn make_separator(
    engine: ResolvedEngine,
    model: Option<&Path>,
    cfg: StftConfig,
    channels: usize,
) -> Result<Box<dyn Separator>> {
    match engine {
        ResolvedEngine::Classic => Ok(Box::new(ClassicSeparator::new(cfg.bins()))),
        ResolvedEngine::Neural => {
            let path = model.map(Path::to_path_buf).unwrap_or_else(default_model_path);
            neural_separator(&path, cfg, channels)
        }
    }
}

fn neural_available(model: &Path) -> Result<()> {
    if !model.is_file() {
        bail!("model file {} not found", model.display());
    }
    // Loading the model here would be the real check; until the engine has a neural
    // separator, report that plainly.
    neural_separator(model, StftConfig::DEFAULT_44K, 2).map(|_| ())
}

/// The neural separator. Wire `demix_engine::neural` here once it exists, e.g.
/// `demix_engine::neural::NeuralSeparator::load(model, cfg, channels)`.
fn neural_separator(model: &Path, _cfg: StftConfig, _channels: usize) -> Result<Box<dyn Separator>> {
    bail!("this build of demix has no neural engine yet (model {})", model.display())
}
