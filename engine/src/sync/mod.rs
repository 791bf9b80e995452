//! State shared between threads: lock-free atomics the audio thread reads or writes, and the
//! notice the GUI shows (behind a mutex the audio thread never touches).

pub mod notice;
pub mod shaping;
pub mod status;
pub mod worker_shared;

use std::sync::atomic::{AtomicU32, Ordering};

/// An `f32` stored in an `AtomicU32` (meter values, loads).
#[derive(Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    /// Stores `v` (relaxed).
    pub fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Loads the value (relaxed).
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}
