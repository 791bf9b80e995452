//! The shaping options the audio thread publishes for the worker, as independent relaxed
//! atomics (real-time safe on both sides).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::dsp::postfx::{DeEsserSettings, GateSettings};
use crate::dsp::shaping::ShapingSettings;
use crate::sync::AtomicF32;

/// Lock-free copy of [`ShapingSettings`] shared by the audio thread (writer) and the worker.
#[derive(Default)]
pub struct SharedShaping {
    bleed_artifacts: AtomicF32,
    vocal_coherent: AtomicBool,
    stereo_refine: AtomicBool,
    bass_mono_hz: AtomicF32,
    de_on: AtomicBool,
    de_freq: AtomicF32,
    de_thr: AtomicF32,
    de_ratio: AtomicF32,
    gate_on: AtomicBool,
    gate_thr: AtomicF32,
    gate_range: AtomicF32,
    gate_attack: AtomicF32,
    gate_hold: AtomicF32,
    gate_release: AtomicF32,
}

impl SharedShaping {
    /// Shared settings starting at `s`.
    pub fn new(s: &ShapingSettings) -> Self {
        let shared = SharedShaping::default();
        shared.store(s);
        shared
    }

    /// Publishes new settings (real-time safe; fields are independent relaxed atomics).
    pub fn store(&self, s: &ShapingSettings) {
        self.bleed_artifacts.store(s.bleed_artifacts);
        self.vocal_coherent.store(s.vocal_coherent_stereo, Ordering::Relaxed);
        self.stereo_refine.store(s.stereo_refine, Ordering::Relaxed);
        self.bass_mono_hz.store(s.bass_mono_below_hz);
        self.de_on.store(s.deesser.enabled, Ordering::Relaxed);
        self.de_freq.store(s.deesser.frequency_hz);
        self.de_thr.store(s.deesser.threshold_db);
        self.de_ratio.store(s.deesser.ratio);
        self.gate_on.store(s.gate.enabled, Ordering::Relaxed);
        self.gate_thr.store(s.gate.threshold_db);
        self.gate_range.store(s.gate.range_db);
        self.gate_attack.store(s.gate.attack_ms);
        self.gate_hold.store(s.gate.hold_ms);
        self.gate_release.store(s.gate.release_ms);
    }

    /// The current settings.
    pub fn load(&self) -> ShapingSettings {
        ShapingSettings {
            bleed_artifacts: self.bleed_artifacts.load(),
            vocal_coherent_stereo: self.vocal_coherent.load(Ordering::Relaxed),
            stereo_refine: self.stereo_refine.load(Ordering::Relaxed),
            bass_mono_below_hz: self.bass_mono_hz.load(),
            deesser: DeEsserSettings {
                enabled: self.de_on.load(Ordering::Relaxed),
                frequency_hz: self.de_freq.load(),
                threshold_db: self.de_thr.load(),
                ratio: self.de_ratio.load(),
            },
            gate: GateSettings {
                enabled: self.gate_on.load(Ordering::Relaxed),
                threshold_db: self.gate_thr.load(),
                range_db: self.gate_range.load(),
                attack_ms: self.gate_attack.load(),
                hold_ms: self.gate_hold.load(),
                release_ms: self.gate_release.load(),
            },
        }
    }
}
