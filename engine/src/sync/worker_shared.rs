//! What the audio thread and the worker share besides the rings: stop and flush handshakes,
//! the requested engine, the STFT latency and the shaping options (lock-free), and a progress signal that only
//! an offline render waits on.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::dsp::shaping::ShapingSettings;
use crate::dsp::stft::Latency;
use crate::sync::shaping::SharedShaping;
use crate::sync::status::EngineKind;

/// State shared by the audio thread and the worker (all lock-free except `progress`, which
/// only the worker and an offline-rendering audio thread use).
pub struct WorkerShared {
    /// Set by the owner to end the worker thread.
    pub(crate) stop: AtomicBool,
    /// Flush generation requested by the audio thread.
    pub(crate) flush_request: AtomicU32,
    /// Flush generation the worker has completed.
    pub(crate) flush_ack: AtomicU32,
    /// The [`EngineKind`] the user asked for.
    pub(crate) requested_engine: AtomicU8,
    /// The STFT latency to run after the next flush (`Latency as u8`), written by the audio
    /// thread before it requests that flush.
    pub(crate) latency: AtomicU8,
    /// Sound-shaping options, written by the audio thread.
    pub(crate) shaping: SharedShaping,
    /// Output frames the audio thread has taken from the output ring or played without (owed)
    /// since the last flush, published once per block and set to zero before a flush is
    /// requested. A hop whose frames all lie below it arrives too late to be heard.
    pub(crate) frames_due: AtomicU64,
    progress: Mutex<u64>,
    progress_cv: Condvar,
}

impl WorkerShared {
    pub(crate) fn new(requested: EngineKind, latency: Latency) -> Self {
        WorkerShared {
            latency: AtomicU8::new(latency as u8),
            stop: AtomicBool::new(false),
            flush_request: AtomicU32::new(0),
            flush_ack: AtomicU32::new(0),
            requested_engine: AtomicU8::new(requested as u8),
            shaping: SharedShaping::new(&ShapingSettings::default()),
            frames_due: AtomicU64::new(0),
            progress: Mutex::new(0),
            progress_cv: Condvar::new(),
        }
    }

    /// Blocks up to `timeout` for the worker to finish another hop (offline rendering only).
    pub(crate) fn wait_progress(&self, timeout: Duration) {
        if let Ok(guard) = self.progress.lock() {
            let seen = *guard;
            let _ = self.progress_cv.wait_timeout_while(guard, timeout, |p| *p == seen);
        }
    }

    /// Wakes an offline render waiting in [`Self::wait_progress`].
    pub(crate) fn notify_progress(&self) {
        if let Ok(mut p) = self.progress.lock() {
            *p = p.wrapping_add(1);
        }
        self.progress_cv.notify_all();
    }
}
