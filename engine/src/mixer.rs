//! Per-stem gains, mute/solo, dry/wet and bypass with click-free smoothing.
//! Runs on the audio thread: no allocation, no locks, no syscalls.

use crate::separator::N_STEMS;

/// Ramp time of every gain change, in milliseconds.
pub const SMOOTHING_MS: f32 = 20.0;

/// What the user set, as plain values (read from host parameters once per block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixSettings {
    /// Gain of each stem in dB; `f32::NEG_INFINITY` (or ≤ -100) is silence.
    pub stem_gain_db: [f32; N_STEMS],
    /// Stem mutes.
    pub mute: [bool; N_STEMS],
    /// Stem solos; if any is set, only soloed (and unmuted) stems play.
    pub solo: [bool; N_STEMS],
    /// Share of the separated mix in the output, 0 (dry) … 1 (wet).
    pub wet: f32,
    /// Output the dry signal (still delayed by the latency, so the host's alignment holds).
    pub bypass: bool,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings {
            stem_gain_db: [0.0; N_STEMS],
            mute: [false; N_STEMS],
            solo: [false; N_STEMS],
            wet: 1.0,
            bypass: false,
        }
    }
}

impl MixSettings {
    /// Linear gain each stem should reach, after mute and solo.
    pub fn target_gains(&self) -> [f32; N_STEMS] {
        let any_solo = self.solo.iter().any(|&s| s);
        let mut g = [0.0; N_STEMS];
        for s in 0..N_STEMS {
            let audible = !self.mute[s] && (!any_solo || self.solo[s]);
            g[s] = if audible { db_to_gain(self.stem_gain_db[s]) } else { 0.0 };
        }
        g
    }
}

/// dB to linear amplitude; -100 dB and below is silence.
pub fn db_to_gain(db: f32) -> f32 {
    if db <= -100.0 || db.is_nan() {
        0.0
    } else {
        10f32.powf(db / 20.0)
    }
}

/// A linear ramp to a target over a fixed time: the largest step per sample is
/// `|target - start| / ramp_samples`.
#[derive(Debug, Clone, Copy)]
pub struct Smoother {
    current: f32,
    target: f32,
    step: f32,
    remaining: u32,
    ramp_samples: u32,
}

impl Smoother {
    /// A smoother resting at `value` that ramps over `ramp_samples` samples.
    pub fn new(value: f32, ramp_samples: u32) -> Self {
        Smoother { current: value, target: value, step: 0.0, remaining: 0, ramp_samples: ramp_samples.max(1) }
    }

    /// Starts a ramp to `target` if it differs from the current target.
    pub fn set_target(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.remaining = self.ramp_samples;
            self.step = (target - self.current) / self.ramp_samples as f32;
        }
    }

    /// Jumps to `value` without a ramp.
    pub fn reset(&mut self, value: f32) {
        *self = Smoother::new(value, self.ramp_samples);
    }

    /// Advances one sample and returns the new value.
    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 { self.target } else { self.current + self.step };
        }
        self.current
    }

    /// True while a ramp is in progress.
    pub fn is_ramping(&self) -> bool {
        self.remaining > 0
    }

    /// The value the ramp is heading to.
    pub fn target(&self) -> f32 {
        self.target
    }
}

/// Applies smoothed stem gains, dry/wet and bypass, one output sample at a time.
pub struct Mixer {
    stem: [Smoother; N_STEMS],
    wet: Smoother,
    bypass: Smoother,
}

impl Mixer {
    /// A mixer at `settings`' values for `sample_rate_hz`.
    pub fn new(sample_rate_hz: f32, settings: &MixSettings) -> Self {
        let ramp = (SMOOTHING_MS * 0.001 * sample_rate_hz).round() as u32;
        let g = settings.target_gains();
        Mixer {
            stem: std::array::from_fn(|s| Smoother::new(g[s], ramp)),
            wet: Smoother::new(settings.wet.clamp(0.0, 1.0), ramp),
            bypass: Smoother::new(if settings.bypass { 1.0 } else { 0.0 }, ramp),
        }
    }

    /// Sets new targets (once per block).
    pub fn set(&mut self, settings: &MixSettings) {
        let g = settings.target_gains();
        for s in 0..N_STEMS {
            self.stem[s].set_target(g[s]);
        }
        self.wet.set_target(settings.wet.clamp(0.0, 1.0));
        self.bypass.set_target(if settings.bypass { 1.0 } else { 0.0 });
    }

    /// Jumps to the targets (after a reset).
    pub fn snap(&mut self) {
        for s in &mut self.stem {
            let t = s.target();
            s.reset(t);
        }
        let (w, b) = (self.wet.target(), self.bypass.target());
        self.wet.reset(w);
        self.bypass.reset(b);
    }

    /// Advances the smoothers by one sample and returns `(stem gains, wet, bypass)`.
    #[inline]
    pub fn next_gains(&mut self) -> ([f32; N_STEMS], f32, f32) {
        let mut g = [0.0; N_STEMS];
        for s in 0..N_STEMS {
            g[s] = self.stem[s].next();
        }
        (g, self.wet.next(), self.bypass.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoother_steps_never_exceed_the_ramp_slope() {
        let ramp = 882;
        let mut s = Smoother::new(0.0, ramp);
        s.set_target(1.0);
        let mut prev = 0.0;
        let limit = 1.0 / ramp as f32 + 1e-6;
        for i in 0..2000 {
            if i == 300 {
                s.set_target(0.25); // retarget mid-ramp
            }
            let v = s.next();
            assert!((v - prev).abs() <= limit, "step {} at {i}", (v - prev).abs());
            prev = v;
        }
        assert_eq!(prev, 0.25);
    }

    #[test]
    fn solo_and_mute_targets() {
        let mut m = MixSettings::default();
        m.solo[1] = true;
        assert_eq!(m.target_gains(), [0.0, 1.0, 0.0, 0.0]);
        m.mute[1] = true;
        assert_eq!(m.target_gains(), [0.0; 4]);
        let mut m = MixSettings::default();
        m.stem_gain_db[2] = 6.0;
        m.mute[0] = true;
        let g = m.target_gains();
        assert_eq!(g[0], 0.0);
        assert!((g[2] - 1.995).abs() < 1e-3);
    }
}
