//! Per-stem gains, mute/solo, dry/wet and bypass with click-free smoothing.
//! Runs on the audio thread: no allocation, no locks, no syscalls.

use crate::dsp::db::db_to_amplitude;
use crate::stem::N_STEMS;

/// Ramp time of every gain change, in milliseconds.
pub const SMOOTHING_MS: f32 = 20.0;

/// Longest and shortest mute/solo/mode transition, in milliseconds.
pub const TRANSITION_MS_RANGE: (f32, f32) = (5.0, 2000.0);

/// Mode crossfade duration by default, in ms.
pub const DEFAULT_TRANSITION_MS: f32 = 50.0;

/// Which stems play: the performance presets, or `Custom` (mute/solo decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Mute and solo buttons decide.
    #[default]
    Custom,
    /// Every stem (mute/solo ignored).
    FullMix,
    /// Vocals only.
    Acapella,
    /// Everything but the vocals.
    Instrumental,
    /// Everything but the drums.
    Drumless,
    /// Everything but the bass.
    Bassless,
    /// Drums and bass.
    Rhythm,
}

impl Mode {
    /// All modes in GUI order.
    pub const ALL: [Mode; 7] = [
        Mode::FullMix,
        Mode::Acapella,
        Mode::Instrumental,
        Mode::Drumless,
        Mode::Bassless,
        Mode::Rhythm,
        Mode::Custom,
    ];

    /// Which stems the mode plays (`None` for `Custom`).
    pub fn stems(self) -> Option<[bool; N_STEMS]> {
        match self {
            Mode::Custom => None,
            Mode::FullMix => Some([true; N_STEMS]),
            Mode::Acapella => Some([true, false, false, false]),
            Mode::Instrumental => Some([false, true, true, true]),
            Mode::Drumless => Some([true, false, true, true]),
            Mode::Bassless => Some([true, true, false, true]),
            Mode::Rhythm => Some([false, true, true, false]),
        }
    }

    /// Name shown in the GUI.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Custom => "Custom",
            Mode::FullMix => "Full mix",
            Mode::Acapella => "Acapella",
            Mode::Instrumental => "Instrumental",
            Mode::Drumless => "Drumless",
            Mode::Bassless => "Bassless",
            Mode::Rhythm => "Drums+Bass",
        }
    }
}

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
    /// Preset deciding which stems play (`Custom`: mute/solo decide).
    pub mode: Mode,
    /// Crossfade time of mode, mute and solo changes, in milliseconds.
    pub transition_ms: f32,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings {
            stem_gain_db: [0.0; N_STEMS],
            mute: [false; N_STEMS],
            solo: [false; N_STEMS],
            wet: 1.0,
            bypass: false,
            mode: Mode::Custom,
            transition_ms: DEFAULT_TRANSITION_MS,
        }
    }
}

impl MixSettings {
    /// Whether each stem plays, from the mode or (in `Custom`) from mute and solo.
    pub fn audible(&self) -> [bool; N_STEMS] {
        if let Some(on) = self.mode.stems() {
            return on;
        }
        let any_solo = self.solo.iter().any(|&s| s);
        std::array::from_fn(|s| !self.mute[s] && (!any_solo || self.solo[s]))
    }

    /// Linear gain each stem should reach: fader gain times audible (1) or not (0).
    pub fn target_gains(&self) -> [f32; N_STEMS] {
        let on = self.audible();
        std::array::from_fn(|s| if on[s] { db_to_gain(self.stem_gain_db[s]) } else { 0.0 })
    }
}

/// Highest stem gain the mixer applies, in dB: larger values (+Inf included) are clamped so
/// a hostile or corrupt parameter value cannot make the output infinite.
pub const MAX_GAIN_DB: f32 = 48.0;

/// dB to linear amplitude; -100 dB and below (and NaN) is silence, above [`MAX_GAIN_DB`] is
/// clamped.
pub fn db_to_gain(db: f32) -> f32 {
    if db <= -100.0 || db.is_nan() {
        0.0
    } else {
        db_to_amplitude(db.min(MAX_GAIN_DB))
    }
}

/// Dry/wet share in 0 … 1; NaN counts as fully wet (the default).
fn wet_share(wet: f32) -> f32 {
    if wet.is_nan() {
        1.0
    } else {
        wet.clamp(0.0, 1.0)
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
        Smoother {
            current: value,
            target: value,
            step: 0.0,
            remaining: 0,
            ramp_samples: ramp_samples.max(1),
        }
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

    /// Changes the duration of later ramps (the current one keeps its slope).
    pub fn set_ramp_samples(&mut self, ramp_samples: u32) {
        self.ramp_samples = ramp_samples.max(1);
    }

    /// Advances one sample and returns the new value.
    #[inline]
    pub fn advance(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            // Computed from the target, not accumulated, so rounding never adds up.
            self.current = self.target - self.step * self.remaining as f32;
        }
        self.current
    }

    /// The value the ramp is heading to.
    pub fn target(&self) -> f32 {
        self.target
    }
}

/// Applies smoothed stem gains, dry/wet and bypass, one output sample at a time. A stem's
/// gain is its fader (ramped over [`SMOOTHING_MS`]) times its on/off switch (ramped over the
/// user's transition time).
pub struct Mixer {
    sample_rate_hz: f32,
    stem: [Smoother; N_STEMS],
    switch: [Smoother; N_STEMS],
    wet: Smoother,
    bypass: Smoother,
}

impl Mixer {
    /// A mixer at `settings`' values for `sample_rate_hz`.
    pub fn new(sample_rate_hz: f32, settings: &MixSettings) -> Self {
        let ramp = (SMOOTHING_MS * 0.001 * sample_rate_hz).round() as u32;
        let on = settings.audible();
        let transition = transition_samples(settings.transition_ms, sample_rate_hz);
        Mixer {
            sample_rate_hz,
            stem: std::array::from_fn(|s| {
                Smoother::new(db_to_gain(settings.stem_gain_db[s]), ramp)
            }),
            switch: std::array::from_fn(|s| {
                Smoother::new(if on[s] { 1.0 } else { 0.0 }, transition)
            }),
            wet: Smoother::new(wet_share(settings.wet), ramp),
            bypass: Smoother::new(if settings.bypass { 1.0 } else { 0.0 }, ramp),
        }
    }

    /// Sets new targets (once per block).
    pub fn set(&mut self, settings: &MixSettings) {
        let on = settings.audible();
        let transition = transition_samples(settings.transition_ms, self.sample_rate_hz);
        for s in 0..N_STEMS {
            self.stem[s].set_target(db_to_gain(settings.stem_gain_db[s]));
            self.switch[s].set_ramp_samples(transition);
            self.switch[s].set_target(if on[s] { 1.0 } else { 0.0 });
        }
        self.wet.set_target(wet_share(settings.wet));
        self.bypass.set_target(if settings.bypass { 1.0 } else { 0.0 });
    }

    /// Jumps to the targets (after a reset).
    pub fn snap(&mut self) {
        for s in self.stem.iter_mut().chain(self.switch.iter_mut()) {
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
            g[s] = self.stem[s].advance() * self.switch[s].advance();
        }
        (g, self.wet.advance(), self.bypass.advance())
    }
}

fn transition_samples(ms: f32, sample_rate_hz: f32) -> u32 {
    let ms = if ms.is_finite() {
        ms.clamp(TRANSITION_MS_RANGE.0, TRANSITION_MS_RANGE.1)
    } else {
        DEFAULT_TRANSITION_MS
    };
    (ms * 0.001 * sample_rate_hz).round() as u32
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
            let v = s.advance();
            assert!((v - prev).abs() <= limit, "step {} at {i}", (v - prev).abs());
            prev = v;
        }
        assert_eq!(prev, 0.25);
    }

    #[test]
    fn modes_choose_stems_and_override_mute_solo() {
        let mut m = MixSettings { mode: Mode::Instrumental, ..MixSettings::default() };
        m.solo[0] = true;
        assert_eq!(m.target_gains(), [0.0, 1.0, 1.0, 1.0]);
        m.mode = Mode::Acapella;
        assert_eq!(m.target_gains(), [1.0, 0.0, 0.0, 0.0]);
        m.mode = Mode::Rhythm;
        assert_eq!(m.audible(), [false, true, true, false]);
    }

    #[test]
    fn mode_switch_ramps_over_the_transition_time() {
        let sr = 48000.0;
        let mut settings = MixSettings { transition_ms: 100.0, ..MixSettings::default() };
        let mut mixer = Mixer::new(sr, &settings);
        settings.mode = Mode::Instrumental;
        mixer.set(&settings);
        let steps: Vec<f32> = (0..6000).map(|_| mixer.next_gains().0[0]).collect();
        // Vocals fade from 1 to 0 over exactly 100 ms (4800 samples), in equal steps.
        assert!(steps[4798] > 0.0 && steps[4799] == 0.0);
        let max_step = steps.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(max_step <= 1.0 / 4800.0 + 1e-6);
    }

    #[test]
    fn hostile_values_give_finite_gains() {
        let mut m = MixSettings { wet: f32::NAN, ..MixSettings::default() };
        m.stem_gain_db = [f32::INFINITY, f32::MAX, f32::NAN, f32::NEG_INFINITY];
        let mut mixer = Mixer::new(48000.0, &m);
        mixer.set(&m);
        for _ in 0..2000 {
            let (g, wet, bypass) = mixer.next_gains();
            assert!(g.iter().chain([&wet, &bypass]).all(|v| v.is_finite()), "{g:?} {wet} {bypass}");
        }
        assert_eq!(db_to_gain(f32::INFINITY), db_to_gain(MAX_GAIN_DB));
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
