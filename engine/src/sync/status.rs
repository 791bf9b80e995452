//! Engine status shared between the audio thread, the worker and the GUI.
//!
//! Every field the audio thread touches is an atomic with relaxed ordering (plain counters
//! and meter values; no ordering between them is relied on). `notice` is a mutex that only
//! the worker, the loader and the GUI touch — never the audio thread.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::stem::N_STEMS;
use crate::sync::notice::EngineNotice;
use crate::sync::AtomicF32;

/// Which separator runs in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EngineKind {
    /// The neural model through ONNX Runtime.
    Neural = 0,
    /// The classical DSP separator.
    Classic = 1,
    /// No separation: the worker is not running (dry passthrough).
    Dry = 2,
}

impl EngineKind {
    /// Decodes the value stored in an atomic.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => EngineKind::Neural,
            1 => EngineKind::Classic,
            _ => EngineKind::Dry,
        }
    }

    /// Name shown in the GUI.
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::Neural => "Neural",
            EngineKind::Classic => "Classic (no model)",
            EngineKind::Dry => "Dry passthrough",
        }
    }
}

/// Live engine state for the GUI, logs and tests.
#[derive(Default)]
pub struct EngineStatus {
    /// Latency reported to the host, in samples.
    pub latency_samples: AtomicU32,
    /// Output samples for which no stem frame was ready, so the dry signal was used.
    pub underrun_samples: AtomicU64,
    /// Blocks in which the audio thread had to fall back to dry for at least one sample.
    pub underrun_blocks: AtomicU64,
    /// Blocks whose input held NaN/Inf samples (replaced by zeros).
    pub nonfinite_blocks: AtomicU64,
    /// Hops in which the separator failed or produced non-finite masks.
    pub separator_faults: AtomicU64,
    /// Hops processed by the worker.
    pub hops_processed: AtomicU64,
    /// Of those, hops whose frames were already owed (played as fallback) when the worker came
    /// to them: they ran without the separator (see [`HopProcessor::process_owed_hop`]).
    ///
    /// [`HopProcessor::process_owed_hop`]: crate::worker::processor::HopProcessor::process_owed_hop
    pub hops_owed: AtomicU64,
    /// Worker compute time over audio time of the last hops (1.0 = real time).
    pub worker_load: AtomicF32,
    /// Longest time the worker spent on one hop, in microseconds.
    pub worker_max_hop_us: AtomicU32,
    /// Separator actually running (an [`EngineKind`] as u8).
    pub active_engine: AtomicU8,
    /// Whether the worker thread is alive.
    pub worker_running: AtomicBool,
    /// Whether the worker thread got real-time scheduling (see [`crate::worker::priority`]).
    pub worker_realtime: AtomicBool,
    /// Peak level of each stem after its gain, over the last block (linear).
    pub stem_peak: [AtomicF32; N_STEMS],
    /// Peak level of the output over the last block (linear).
    pub output_peak: AtomicF32,
    /// What the user should know about the engine; never touched by the audio thread.
    pub notice: Mutex<EngineNotice>,
}

impl EngineStatus {
    /// Replaces the notice (not for the audio thread).
    pub fn set_notice(&self, notice: impl Into<EngineNotice>) {
        if let Ok(mut n) = self.notice.lock() {
            *n = notice.into();
        }
    }

    /// A copy of the notice (not for the audio thread).
    pub fn notice(&self) -> EngineNotice {
        self.notice.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// The separator currently running.
    pub fn active_engine(&self) -> EngineKind {
        EngineKind::from_u8(self.active_engine.load(Ordering::Relaxed))
    }
}
