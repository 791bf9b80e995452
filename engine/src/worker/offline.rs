//! Whole-file separation with the same hop processor the plugin's worker runs (CLI path).

use crate::dsp::separator::Separator;
use crate::dsp::shaping::ShapingSettings;
use crate::dsp::stft::StftConfig;
use crate::stem::N_STEMS;
use crate::worker::processor::HopProcessor;

/// Stems of a whole signal: `stems[stem][channel][sample]`, aligned sample-exactly with the
/// input (the STFT delay is removed) and of the same length.
pub type Stems = Vec<Vec<Vec<f32>>>;

/// Separates `channels[ch][sample]` (1 or 2 channels of equal length) at `sample_rate_hz`
/// with the sound-shaping options `shaping`. `progress` is called with the fraction done
/// (0..=1) every few hundred hops.
pub fn separate(
    channels: &[Vec<f32>],
    sample_rate_hz: f32,
    cfg: StftConfig,
    separator: &mut dyn Separator,
    shaping: &ShapingSettings,
    mut progress: impl FnMut(f32),
) -> Stems {
    let ch = channels.len();
    let len = channels.first().map_or(0, Vec::len);
    let mut proc = HopProcessor::new(cfg, ch, sample_rate_hz);
    proc.set_shaping(shaping);
    let delay = cfg.delay_samples();
    let total = len + delay;
    let hops = total.div_ceil(cfg.hop);
    let mut stems = vec![vec![vec![0.0f32; len]; ch]; N_STEMS];
    let mut input = vec![0.0f32; cfg.hop * ch];
    let mut output = vec![0.0f32; cfg.hop * N_STEMS * ch];
    for k in 0..hops {
        for t in 0..cfg.hop {
            let i = k * cfg.hop + t;
            for c in 0..ch {
                input[t * ch + c] = if i < len { channels[c][i] } else { 0.0 };
            }
        }
        proc.process_hop(separator, &input, &mut output);
        for t in 0..cfg.hop {
            let j = k * cfg.hop + t;
            if j < delay || j - delay >= len {
                continue;
            }
            for s in 0..N_STEMS {
                for c in 0..ch {
                    stems[s][c][j - delay] = output[(t * N_STEMS + s) * ch + c];
                }
            }
        }
        if k % 256 == 0 {
            progress(k as f32 / hops as f32);
        }
    }
    progress(1.0);
    stems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::classic::ClassicSeparator;

    #[test]
    fn stems_sum_to_input() {
        let len = 44100;
        let x: Vec<Vec<f32>> = (0..2)
            .map(|c| (0..len).map(|i| ((i * (c + 3)) as f32 * 0.01).sin() * 0.5).collect())
            .collect();
        let cfg = StftConfig::DEFAULT_44K;
        let mut sep = ClassicSeparator::new(cfg.bins());
        let stems = separate(&x, 44100.0, cfg, &mut sep, &ShapingSettings::default(), |_| {});
        let mut err = 0.0f64;
        let mut sig = 0.0f64;
        for c in 0..2 {
            for i in 0..len {
                let s: f32 = (0..N_STEMS).map(|s| stems[s][c][i]).sum();
                err += ((s - x[c][i]) as f64).powi(2);
                sig += (x[c][i] as f64).powi(2);
            }
        }
        let db = 10.0 * (err / sig).log10();
        assert!(db < -100.0, "sum of stems vs input: {db:.1} dB");
    }
}
