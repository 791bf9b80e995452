//! Vocal post-chain: a split-band de-esser and a downward expander / gate. Both are causal
//! with zero added latency and run on the worker thread on the vocal stem (allocation-free
//! after construction).

use crate::dsp::db::{amplitude_to_db, db_to_amplitude};

/// De-esser settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeEsserSettings {
    /// Process at all.
    pub enabled: bool,
    /// Split frequency in Hz (4–10 kHz): only the band above it is reduced.
    pub frequency_hz: f32,
    /// Level of the high band above which it is compressed, in dBFS.
    pub threshold_db: f32,
    /// Compression ratio above the threshold (≥ 1).
    pub ratio: f32,
}

impl Default for DeEsserSettings {
    fn default() -> Self {
        DeEsserSettings { enabled: false, frequency_hz: 6000.0, threshold_db: -30.0, ratio: 4.0 }
    }
}

/// Gate / downward-expander settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateSettings {
    /// Process at all.
    pub enabled: bool,
    /// Level below which the signal is attenuated, in dBFS.
    pub threshold_db: f32,
    /// Attenuation applied below the threshold, in dB (positive number).
    pub range_db: f32,
    /// Time to open, in ms.
    pub attack_ms: f32,
    /// Time the gate stays open after the level falls below the threshold, in ms.
    pub hold_ms: f32,
    /// Time to close, in ms.
    pub release_ms: f32,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            enabled: false,
            threshold_db: -45.0,
            range_db: 24.0,
            attack_ms: 1.0,
            hold_ms: 50.0,
            release_ms: 150.0,
        }
    }
}

/// `v` clamped to `lo..=hi`, or `default` if it is NaN.
fn finite_or(v: f32, default: f32, lo: f32, hi: f32) -> f32 {
    if v.is_nan() {
        default
    } else {
        v.clamp(lo, hi)
    }
}

impl DeEsserSettings {
    /// The settings with NaN replaced by the defaults and every value clamped to a range the
    /// processing stays finite in (a hostile or corrupt value cannot make the output NaN).
    pub fn sanitized(self) -> Self {
        let d = DeEsserSettings::default();
        DeEsserSettings {
            enabled: self.enabled,
            frequency_hz: finite_or(self.frequency_hz, d.frequency_hz, 20.0, 100_000.0),
            threshold_db: finite_or(self.threshold_db, d.threshold_db, -120.0, 24.0),
            ratio: finite_or(self.ratio, d.ratio, 1.0, 1000.0),
        }
    }
}

impl GateSettings {
    /// The settings with NaN replaced by the defaults and every value clamped to a range the
    /// processing stays finite in.
    pub fn sanitized(self) -> Self {
        let d = GateSettings::default();
        GateSettings {
            enabled: self.enabled,
            threshold_db: finite_or(self.threshold_db, d.threshold_db, -120.0, 24.0),
            range_db: finite_or(self.range_db, d.range_db, 0.0, 120.0),
            attack_ms: finite_or(self.attack_ms, d.attack_ms, 0.0, 10_000.0),
            hold_ms: finite_or(self.hold_ms, d.hold_ms, 0.0, 10_000.0),
            release_ms: finite_or(self.release_ms, d.release_ms, 0.0, 10_000.0),
        }
    }
}

/// Level detectors floor at 1e-12 (-240 dB).
fn lin_to_db(x: f32) -> f32 {
    amplitude_to_db(x, 1e-12)
}

/// One-pole smoothing coefficient for a time constant in ms.
fn coeff(ms: f32, sample_rate_hz: f32) -> f32 {
    if ms <= 0.0 {
        0.0
    } else {
        (-1.0 / (ms * 0.001 * sample_rate_hz)).exp()
    }
}

/// Second-order Butterworth section (transposed direct form II).
#[derive(Debug, Clone, Copy, Default)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    z: [f32; 2],
}

impl Biquad {
    fn butterworth(f_hz: f32, sample_rate_hz: f32, high: bool) -> Self {
        let f = f_hz.clamp(20.0, 0.45 * sample_rate_hz);
        let w = 2.0 * std::f32::consts::PI * f / sample_rate_hz;
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let (b0, b1) =
            if high { ((1.0 + c) / 2.0, -(1.0 + c)) } else { ((1.0 - c) / 2.0, 1.0 - c) };
        Biquad {
            b: [b0 / a0, b1 / a0, b0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            z: [0.0; 2],
        }
    }

    #[inline]
    fn process(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// Fourth-order Linkwitz-Riley crossover for one channel: the two bands are in phase and sum
/// to an all-pass, so an unreduced high band leaves the magnitude response flat.
#[derive(Debug, Clone, Copy, Default)]
struct Crossover {
    low: [Biquad; 2],
    high: [Biquad; 2],
}

impl Crossover {
    fn new(f_hz: f32, sample_rate_hz: f32) -> Self {
        let lp = Biquad::butterworth(f_hz, sample_rate_hz, false);
        let hp = Biquad::butterworth(f_hz, sample_rate_hz, true);
        Crossover { low: [lp; 2], high: [hp; 2] }
    }

    /// Returns `(low band, high band)`.
    #[inline]
    fn split(&mut self, x: f32) -> (f32, f32) {
        let l = self.low[0].process(x);
        let l = self.low[1].process(l);
        let h = self.high[0].process(x);
        let h = self.high[1].process(h);
        (l, h)
    }
}

/// Split-band de-esser for up to two channels with linked detection: the band above the split
/// frequency (Linkwitz-Riley crossover) is compressed when its peak level exceeds the
/// threshold; the band below passes untouched.
pub struct DeEsser {
    sample_rate_hz: f32,
    settings: DeEsserSettings,
    split: [Crossover; 2],
    env: f32,
    release: f32,
}

impl DeEsser {
    /// A de-esser at `sample_rate_hz`.
    pub fn new(sample_rate_hz: f32) -> Self {
        let settings = DeEsserSettings::default();
        DeEsser {
            sample_rate_hz,
            settings,
            split: [Crossover::new(settings.frequency_hz, sample_rate_hz); 2],
            env: 0.0,
            release: coeff(60.0, sample_rate_hz),
        }
    }

    /// Applies new settings (recomputes the crossover when the frequency changes).
    pub fn set(&mut self, s: DeEsserSettings) {
        let s = s.sanitized();
        if s.frequency_hz != self.settings.frequency_hz {
            self.split = [Crossover::new(s.frequency_hz, self.sample_rate_hz); 2];
        }
        self.settings = s;
    }

    /// Processes interleaved audio in place (`channels` 1 or 2).
    pub fn process(&mut self, audio: &mut [f32], channels: usize) {
        if !self.settings.enabled {
            return;
        }
        let thr = db_to_amplitude(self.settings.threshold_db);
        let slope = 1.0 / self.settings.ratio.max(1.0) - 1.0;
        for frame in audio.chunks_mut(channels) {
            let mut bands = [(0.0f32, 0.0f32); 2];
            let mut peak = 0.0f32;
            for (c, x) in frame.iter().enumerate() {
                bands[c] = self.split[c].split(*x);
                peak = peak.max(bands[c].1.abs());
            }
            // Peak detector: instant attack, so a burst is caught from its first cycle.
            self.env = if peak > self.env { peak } else { peak + self.release * (self.env - peak) };
            let gain = if self.env > thr {
                db_to_amplitude(slope * (lin_to_db(self.env) - self.settings.threshold_db))
            } else {
                1.0
            };
            for (c, x) in frame.iter_mut().enumerate() {
                *x = bands[c].0 + gain * bands[c].1;
            }
        }
    }

    /// Clears filter and detector state.
    pub fn reset(&mut self) {
        let f = self.settings.frequency_hz;
        self.split = [Crossover::new(f, self.sample_rate_hz); 2];
        self.env = 0.0;
    }
}

/// Downward expander / gate for up to two channels with linked detection: below the threshold
/// the signal is attenuated by `range_db`; opening and closing follow attack, hold and release.
pub struct Gate {
    sample_rate_hz: f32,
    settings: GateSettings,
    env: f32,
    env_release: f32,
    hold_left: u32,
    gain_db: f32,
}

impl Gate {
    /// A gate at `sample_rate_hz`, initially open.
    pub fn new(sample_rate_hz: f32) -> Self {
        Gate {
            sample_rate_hz,
            settings: GateSettings::default(),
            env: 0.0,
            env_release: coeff(10.0, sample_rate_hz),
            hold_left: 0,
            gain_db: 0.0,
        }
    }

    /// Applies new settings.
    pub fn set(&mut self, s: GateSettings) {
        self.settings = s.sanitized();
    }

    /// Processes interleaved audio in place.
    pub fn process(&mut self, audio: &mut [f32], channels: usize) {
        if !self.settings.enabled {
            self.gain_db = 0.0;
            return;
        }
        let s = self.settings;
        let thr = db_to_amplitude(s.threshold_db);
        let hold = (s.hold_ms.max(0.0) * 0.001 * self.sample_rate_hz) as u32;
        let range = s.range_db.max(0.0);
        // Gain moves at `range` dB per attack/release time.
        let open_step = range / (s.attack_ms.max(0.01) * 0.001 * self.sample_rate_hz);
        let close_step = range / (s.release_ms.max(0.01) * 0.001 * self.sample_rate_hz);
        for frame in audio.chunks_mut(channels) {
            let peak = frame.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            // Instant attack, 10 ms release: a peak detector that follows the waveform's envelope.
            self.env =
                if peak > self.env { peak } else { peak + self.env_release * (self.env - peak) };
            let target = if self.env >= thr {
                self.hold_left = hold;
                0.0
            } else if self.hold_left > 0 {
                self.hold_left -= 1;
                0.0
            } else {
                -range
            };
            if self.gain_db < target {
                self.gain_db = (self.gain_db + open_step).min(target);
            } else if self.gain_db > target {
                self.gain_db = (self.gain_db - close_step).max(target);
            }
            let g = db_to_amplitude(self.gain_db);
            for x in frame.iter_mut() {
                *x *= g;
            }
        }
    }

    /// Opens the gate and clears the detector.
    pub fn reset(&mut self) {
        self.env = 0.0;
        self.hold_left = 0;
        self.gain_db = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48000.0;

    fn sine(f: f32, amp: f32, len: usize) -> Vec<f32> {
        (0..len).map(|i| amp * (2.0 * std::f32::consts::PI * f * i as f32 / SR).sin()).collect()
    }

    fn rms_db(x: &[f32]) -> f32 {
        lin_to_db((x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt())
    }

    #[test]
    fn deesser_reduces_a_sibilant_burst_by_the_set_amount() {
        let mut d = DeEsser::new(SR);
        let s = DeEsserSettings {
            enabled: true,
            frequency_hz: 4000.0,
            threshold_db: -30.0,
            ratio: 4.0,
        };
        d.set(s);
        // An 11.3 kHz burst peaking at -10 dBFS: 20 dB over the threshold → 15 dB of reduction.
        let x = sine(11300.0, db_to_amplitude(-10.0), 24000);
        let mut y = x.clone();
        d.process(&mut y, 1);
        let reduction = rms_db(&x[12000..]) - rms_db(&y[12000..]);
        // Well above the split frequency the tone sits (within 0.2 dB) in the high band.
        assert!((reduction - 15.0).abs() < 1.0, "reduction {reduction:.2} dB");
    }

    #[test]
    fn deesser_leaves_low_band_and_quiet_highs_alone() {
        let mut d = DeEsser::new(SR);
        d.set(DeEsserSettings {
            enabled: true,
            frequency_hz: 6000.0,
            threshold_db: -30.0,
            ratio: 4.0,
        });
        let x: Vec<f32> = sine(300.0, 0.5, 24000)
            .iter()
            .zip(sine(8000.0, db_to_amplitude(-40.0), 24000))
            .map(|(a, b)| a + b)
            .collect();
        let mut y = x.clone();
        d.process(&mut y, 1);
        let diff = rms_db(&x[12000..]) - rms_db(&y[12000..]);
        assert!(diff.abs() < 0.1, "changed by {diff:.3} dB");
    }

    #[test]
    fn gate_reduces_bleed_by_the_range_and_passes_signal() {
        let mut g = Gate::new(SR);
        g.set(GateSettings {
            enabled: true,
            threshold_db: -40.0,
            range_db: 20.0,
            attack_ms: 1.0,
            hold_ms: 20.0,
            release_ms: 50.0,
        });
        // Loud part (-12 dBFS) passes unchanged; bleed at -55 dBFS is reduced by 20 dB.
        let loud = sine(440.0, db_to_amplitude(-12.0), 24000);
        let bleed = sine(200.0, db_to_amplitude(-55.0), 48000);
        let mut y: Vec<f32> = loud.iter().chain(bleed.iter()).copied().collect();
        g.process(&mut y, 1);
        let pass = rms_db(&loud[4800..]) - rms_db(&y[4800..24000]);
        assert!(pass.abs() < 0.1, "signal above threshold changed by {pass:.3} dB");
        let cut = rms_db(&bleed[24000..]) - rms_db(&y[24000 + 24000..]);
        assert!((cut - 20.0).abs() < 0.1, "bleed reduced by {cut:.3} dB");
    }

    #[test]
    fn disabled_stages_are_bit_transparent() {
        let x = sine(7000.0, 0.9, 4800);
        let mut y = x.clone();
        DeEsser::new(SR).process(&mut y, 1);
        Gate::new(SR).process(&mut y, 1);
        assert_eq!(x, y);
    }

    #[test]
    fn hostile_settings_keep_the_output_finite() {
        let sr = 48000.0;
        let mut audio: Vec<f32> = (0..4800).map(|i| (i as f32 * 0.37).sin() * 0.8).collect();
        let mut d = DeEsser::new(sr);
        let mut g = Gate::new(sr);
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1e30, 1e30, 0.0] {
            d.set(DeEsserSettings { enabled: true, frequency_hz: v, threshold_db: v, ratio: v });
            g.set(GateSettings {
                enabled: true,
                threshold_db: v,
                range_db: v,
                attack_ms: v,
                hold_ms: v,
                release_ms: v,
            });
            d.process(&mut audio, 2);
            g.process(&mut audio, 2);
            assert!(audio.iter().all(|x| x.is_finite()), "value {v}");
        }
    }
}
