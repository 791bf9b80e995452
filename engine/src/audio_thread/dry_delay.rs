//! The input delayed by the reported latency: what plays while no stem frame is ready, under
//! Bypass and in the Dry/Wet blend, so every path stays time-aligned. Audio thread;
//! allocates only in `new`.

/// A delay line over interleaved frames.
pub struct DryDelay {
    line: Vec<f32>,
    pos: usize,
    channels: usize,
    frames: usize,
}

impl DryDelay {
    /// A line delaying `channels`-channel interleaved audio by `delay_samples` (≥ 1), silent at
    /// first.
    pub fn new(delay_samples: usize, channels: usize) -> Self {
        let frames = delay_samples.max(1);
        DryDelay { line: vec![0.0; frames * channels], pos: 0, channels, frames }
    }

    /// Pushes `input` (whole interleaved frames) and writes the frames that entered
    /// `delay_samples` earlier to `output` (same length).
    #[inline]
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let ch = self.channels;
        for (x, y) in input.chunks_exact(ch).zip(output.chunks_exact_mut(ch)) {
            let slot = &mut self.line[self.pos * ch..(self.pos + 1) * ch];
            y.copy_from_slice(slot);
            slot.copy_from_slice(x);
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
}
