//! The input delayed by the reported latency: what plays while no stem frame is ready, under
//! Bypass and in the Dry/Wet blend, so every path stays time-aligned. Audio thread;
//! allocates only in `new`.

/// A delay line over interleaved frames, with a delay that can change up to the capacity it
/// was built with (a latency switch: the line keeps the input of the longest delay).
pub struct DryDelay {
    line: Vec<f32>,
    pos: usize,
    channels: usize,
    /// Capacity in frames.
    frames: usize,
    delay: usize,
}

impl DryDelay {
    /// A line delaying `channels`-channel interleaved audio by `delay_samples` (≥ 1), silent at
    /// first.
    pub fn new(delay_samples: usize, channels: usize) -> Self {
        Self::with_capacity(delay_samples, delay_samples, channels)
    }

    /// Like [`Self::new`], able to switch to any delay up to `max_delay_samples` later.
    pub fn with_capacity(delay_samples: usize, max_delay_samples: usize, channels: usize) -> Self {
        let frames = max_delay_samples.max(delay_samples).max(1);
        let delay = delay_samples.clamp(1, frames);
        DryDelay { line: vec![0.0; frames * channels], pos: 0, channels, frames, delay }
    }

    /// Changes the delay (clamped to 1..=capacity); the line's history is kept, so the output
    /// continues from the input `delay_samples` back. Allocation-free.
    pub fn set_delay(&mut self, delay_samples: usize) {
        self.delay = delay_samples.clamp(1, self.frames);
    }

    /// Pushes `input` (whole interleaved frames) and writes the frames that entered
    /// `delay_samples` earlier to `output` (same length).
    #[inline]
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let ch = self.channels;
        for (x, y) in input.chunks_exact(ch).zip(output.chunks_exact_mut(ch)) {
            // The slot written `delay` frames ago (the current slot itself at full capacity:
            // read before it is overwritten).
            let read = (self.pos + self.frames - self.delay) % self.frames;
            y.copy_from_slice(&self.line[read * ch..(read + 1) * ch]);
            self.line[self.pos * ch..(self.pos + 1) * ch].copy_from_slice(x);
            self.pos = (self.pos + 1) % self.frames;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impulse_comes_out_exactly_delay_samples_later() {
        let (delay, ch) = (7, 2);
        let mut d = DryDelay::new(delay, ch);
        let mut input = vec![0.0f32; 20 * ch];
        input[3 * ch] = 1.0;
        input[3 * ch + 1] = -1.0;
        let mut output = vec![9.0f32; input.len()];
        // Uneven chunks, as host blocks are.
        let mut start = 0;
        for n in [5, 1, 9, 5] {
            let r = start * ch..(start + n) * ch;
            d.process(&input[r.clone()], &mut output[r]);
            start += n;
        }
        for (i, f) in output.chunks_exact(ch).enumerate() {
            let want = if i == 3 + delay { [1.0, -1.0] } else { [0.0, 0.0] };
            assert_eq!(f, want, "frame {i}");
        }
    }

    #[test]
    fn a_shorter_delay_reads_the_same_history_closer_to_now() {
        let ch = 1;
        let mut d = DryDelay::with_capacity(10, 10, ch);
        let ramp: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let mut out = [0.0f32; 40];
        d.process(&ramp[..20], &mut out[..20]);
        assert_eq!(out[19], 9.0);
        d.set_delay(4);
        d.process(&ramp[20..], &mut out[20..]);
        // From the switch on, each output is the input 4 samples earlier.
        assert!((20..40).all(|i| out[i] == (i - 4) as f32), "{:?}", &out[20..]);
        d.set_delay(10);
        let mut more = [0.0f32; 3];
        d.process(&[40.0, 41.0, 42.0], &mut more);
        assert_eq!(more, [30.0, 31.0, 32.0]);
        // Beyond the capacity is clamped to it.
        d.set_delay(99);
        let mut one = [0.0f32];
        d.process(&[43.0], &mut one);
        assert_eq!(one, [33.0]);
    }
}
