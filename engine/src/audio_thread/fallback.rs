//! What plays when a stem frame is not there (the worker is late, the first `latency` samples
//! after a start, a pending flush): the latency-aligned dry signal at the *lowest* stem gain, so
//! no stem plays louder than its fader says — in Acapella the muted band stays down (the
//! output dips instead), at unity gains it is the exact dry signal and the null holds.
//!
//! Both switches are continuous. Into the fallback, the last separated sample's difference
//! from the fallback is held and faded out over [`FALLBACK_FADE_MS`]; back from it, the
//! separated signal is crossfaded in over the same time. Runs on the audio thread: plain
//! arithmetic on fixed-size state.

use crate::stem::N_STEMS;

/// Length of the fades into and out of the fallback, in milliseconds.
pub const FALLBACK_FADE_MS: f32 = 2.0;

/// Channels the engine processes at most.
const MAX_CHANNELS: usize = 2;

/// The fallback's fade state for the main bus and the per-stem buses.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// Per-sample fade increment (one over the fade length in samples).
    step: f32,
    /// Weight of the separated signal in the output, 0..=1 (0 while frames are missing).
    separated: f32,
    /// Weight of the held differences, 1 right after a separated sample, fading to 0.
    hold: f32,
    /// Main bus: separated output minus fallback at the last separated sample, per channel.
    held: [f32; MAX_CHANNELS],
    /// Stem buses: the last separated value, per stem and engine channel.
    held_bus: [[f32; MAX_CHANNELS]; N_STEMS],
}

impl Fallback {
    /// A fallback at rest (no separated signal yet) for `sample_rate_hz`.
    pub fn new(sample_rate_hz: f32) -> Self {
        let fade_samples = (FALLBACK_FADE_MS * 0.001 * sample_rate_hz).max(1.0);
        Fallback {
            step: 1.0 / fade_samples,
            separated: 0.0,
            hold: 0.0,
            held: [0.0; MAX_CHANNELS],
            held_bus: [[0.0; MAX_CHANNELS]; N_STEMS],
        }
    }

    /// The gain of the dry signal standing in for the stems: the lowest stem gain.
    #[inline]
    pub fn dry_gain(gains: &[f32; N_STEMS]) -> f32 {
        gains.iter().fold(f32::INFINITY, |m, &g| m.min(g)).max(0.0)
    }

    /// Advances the fades by one sample; `have_frame` says whether this sample has a stem frame.
    #[inline]
    pub fn advance(&mut self, have_frame: bool) {
        self.separated = if have_frame { (self.separated + self.step).min(1.0) } else { 0.0 };
        self.hold = (self.hold - self.step).max(0.0);
    }

    /// Main bus, channel `c`: the output given the separated sum `separated` (when there is a
    /// frame) and the fallback `fallback` (dry signal times [`Self::dry_gain`]).
    #[inline]
    pub fn main(&mut self, c: usize, separated: Option<f32>, fallback: f32) -> f32 {
        let c = c.min(MAX_CHANNELS - 1);
        let standing_in = fallback + self.hold * self.held[c];
        match separated {
            Some(s) if s.is_finite() => {
                let y = self.separated * s + (1.0 - self.separated) * standing_in;
                self.held[c] = y - fallback;
                y
            }
            _ => standing_in,
        }
    }

    /// Stem bus of stem `s`, engine channel `c`: like [`Self::main`], with silence as the
    /// fallback (the dry signal belongs to no stem).
    #[inline]
    pub fn bus(&mut self, s: usize, c: usize, separated: Option<f32>) -> f32 {
        let c = c.min(MAX_CHANNELS - 1);
        let standing_in = self.hold * self.held_bus[s][c];
        match separated {
            Some(v) if v.is_finite() => {
                let y = self.separated * v + (1.0 - self.separated) * standing_in;
                self.held_bus[s][c] = y;
                y
            }
            _ => standing_in,
        }
    }

    /// Marks the end of a sample that had a frame: the held values just written start fading
    /// from full weight. Call after [`Self::main`] / [`Self::bus`] for the sample.
    #[inline]
    pub fn separated_sample_done(&mut self) {
        self.hold = 1.0;
    }
}
