//! End-to-end tests of the optional per-stem outputs through a real CLAP host (clack-host): the
//! stem-outputs audio-ports configuration, its four stereo auxiliary outputs, and that plain
//! stereo is still the default.
//!
//! Prerequisite (the tests do not build the plugin themselves):
//!     cargo build -p demix --features assert_process_allocs
//!     cargo test -p demix-e2e --test stem_outputs -- --nocapture
//!
//! With `assert_process_allocs`, any allocation inside the plugin's audio-thread `process`
//! aborts this whole test process: a run that finishes means no allocation happened.

use demix_e2e::signal::{self, delayed, energy, error_db, synthetic_stems};
use demix_e2e::Instance;
use demix_engine::audio_thread::fallback::FALLBACK_FADE_MS;
use demix_engine::dsp::stft::StftConfig;

const STEMS: [&str; 4] = ["Vocals", "Drums", "Bass", "Other"];
const SR: f64 = 44100.0;

/// Samples of the fallback's fade at `sr` (see `FALLBACK_FADE_MS`).
fn fade_samples(sr: f64) -> usize {
    (FALLBACK_FADE_MS as f64 * 0.001 * sr).ceil() as usize
}
const MAX_BLOCK: usize = 1024;
const PATTERN: [usize; 5] = [256, 333, 1024, 64, 0];

/// Largest |main - Σ stem outputs| from sample `from` on.
fn stem_sum_error(main: &[Vec<f32>], stems: &[Vec<Vec<f32>>], from: usize) -> f32 {
    let mut worst = 0.0f32;
    for (c, m) in main.iter().enumerate() {
        for t in from..m.len() {
            let sum: f32 = stems.iter().map(|s| s[c][t]).sum();
            worst = worst.max((m[t] - sum).abs());
        }
    }
    worst
}

/// Latency, main output (`[channel][sample]`) and stem outputs (`[stem][channel][sample]`).
type Render = (usize, Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

/// An offline instance in the stem-outputs configuration on the Classic engine (deterministic
/// and independent of the model in the bundle), with the given parameter changes (CLAP values);
/// returns its latency, main output and stem outputs for `input`.
fn render_stems(input: &[Vec<f32>], params: &[(&str, f64)]) -> Render {
    let mut inst = Instance::new();
    assert!(inst.set_render_mode(true));
    assert!(inst.select_stem_outputs(), "no stem-outputs audio-ports configuration");
    // Parameters are applied before activation, so the engine starts on Classic and every
    // render is the same up to the parameter changes.
    inst.set_param("Engine", 1.0);
    for (name, v) in params {
        inst.set_param(name, *v);
    }
    inst.flush_params();
    inst.activate(SR, MAX_BLOCK);
    let latency = inst.latency() as usize;
    let (main, stems) = inst.process_with_aux(input, &PATTERN);
    (latency, main, stems)
}

#[test]
fn configurations_offer_plain_stereo_first_and_stem_outputs() {
    let mut inst = Instance::new();
    let configs = inst.port_configs();
    for c in &configs {
        println!(
            "audio-ports config {}: {:?}, {} in / {} out ports, main {:?} -> {:?}",
            c.id, c.name, c.inputs, c.outputs, c.main_in, c.main_out
        );
    }
    // The default (first) configuration is plain stereo; without selecting anything the host
    // sees one stereo input and one stereo output.
    let first = &configs[0];
    assert_eq!(
        (first.inputs, first.outputs, first.main_in, first.main_out),
        (1, 1, Some(2), Some(2))
    );
    assert_eq!(inst.ports(false), vec![("Output".to_string(), 2)]);
    assert!(
        configs.iter().any(|c| c.outputs == 5 && c.main_out == Some(2)),
        "no stem-outputs configuration"
    );

    assert!(inst.select_stem_outputs());
    let outs = inst.ports(false);
    println!("stem-outputs configuration's output ports: {outs:?}");
    assert_eq!(outs.len(), 5);
    for (i, name) in STEMS.iter().enumerate() {
        assert_eq!(outs[i + 1], (name.to_string(), 2), "output port {}", i + 1);
    }
    assert_eq!(inst.ports(true).len(), 1, "the stem-outputs configuration has one (stereo) input");
}

#[test]
fn stem_outputs_sum_to_the_main_output() {
    let len = (SR * 3.0) as usize;
    let input = signal::mix(&synthetic_stems(SR as f32, len));
    let (lat, main, stems) = render_stems(&input, &[]);
    assert_eq!(stems.len(), 4);
    assert!(stems.iter().all(|s| s.len() == 2), "stem outputs are stereo");
    assert!(
        stems.iter().flatten().flatten().all(|v| v.is_finite()),
        "unwritten (NaN) or non-finite stem samples"
    );
    // The main output is unchanged: the input delayed by the latency (unity gains).
    let null = error_db(&main, &delayed(&input, lat), 0..len);
    // From the end of the fade into the first separated frames on.
    let err = stem_sum_error(&main, &stems, lat + fade_samples(SR));
    let energies: Vec<f64> = stems.iter().map(|s| energy(s, lat..len)).collect();
    println!(
        "stem outputs (Classic, offline, latency {lat}): main vs delayed input {null:.1} dB; \
         max |main - sum of the 4 stem outputs| after the latency and the fade {err:.2e}; stem output energies {energies:.3?} \
         (main {:.3})",
        energy(&main, lat..len)
    );
    assert!(null <= -100.0, "main output null {null:.1} dB");
    assert!(err <= 1e-5, "stem outputs do not sum to the main output ({err:e})");
    // Before the first separated frame the stem outputs are silent (the main output plays the
    // delayed dry signal there).
    assert!(stems.iter().flatten().all(|c| c[..lat].iter().all(|&v| v == 0.0)));
    assert!(energies.iter().filter(|&&e| e > 1e-3).count() >= 3, "stem outputs carry no signal");
}

#[test]
fn muting_drums_silences_the_drums_output() {
    let len = (SR * 3.0) as usize;
    let input = signal::mix(&synthetic_stems(SR as f32, len));
    let (lat, _, unity) = render_stems(&input, &[]);
    let (_, main, muted) = render_stems(&input, &[("Drums Mute", 1.0)]);
    // The mute crossfades over the transition time (default 50 ms) from the first block on.
    let settled = lat.max((0.05 * SR) as usize + 1);
    let before = energy(&unity[1], settled..len);
    let after = energy(&muted[1], settled..len);
    println!("drums output energy after the latency: unity {before:.3}, Drums Mute {after:e}");
    assert!(before > 1e-3, "drums output silent at unity");
    assert_eq!(after, 0.0, "muted drums output is not silent");
    for s in [0, 2, 3] {
        assert!(muted[s] == unity[s], "{} output changed when the drums were muted", STEMS[s]);
    }
    let err = stem_sum_error(&main, &muted, lat + fade_samples(SR));
    println!("drums muted: max |main - sum of the stem outputs| {err:.2e}");
    assert!(err <= 1e-5);
}

#[test]
fn stem_outputs_in_real_time_mode_stay_finite_and_main_nulls() {
    // Real-time mode may fall back to the delayed dry signal (stem outputs silent there): the
    // main output nulls either way, and every stem sample is written and finite.
    let mut inst = Instance::new();
    assert!(inst.set_render_mode(false));
    assert!(inst.select_stem_outputs());
    inst.activate(48000.0, 4096);
    let lat = inst.latency() as usize;
    let len = 96000;
    let input = signal::mix(&synthetic_stems(48000.0, len));
    let mut pattern = vec![1; 64];
    pattern.extend_from_slice(&[64, 0, 333, 4096, 0, 1, 64, 333, 4096, 17, 0, 1000]);
    let (main, stems) = inst.process_with_aux(&input, &pattern);
    let null = error_db(&main, &delayed(&input, lat), 0..len);
    println!("stem outputs, real-time mode, mixed blocks: main null {null:.1} dB");
    assert!(null <= -100.0);
    assert!(stems.iter().flatten().flatten().all(|v| v.is_finite()));
    // Where the stems played, they sum to the main output; where the fallback played they are
    // silent; in between they fade. A fade can be cut short by the next switch: frames stop
    // only at hop boundaries but may arrive mid-hop, so a fade in can be interrupted by a fade
    // out, which a late frame can interrupt again, and the hop (over two fades long) then lets
    // the fade in finish. So the stems settle within three fades of when they last were.
    let fade = fade_samples(48000.0) + 1;
    let hop = StftConfig::default_for_rate(48000.0).hop;
    assert!(hop > 2 * fade, "the bound below assumes a hop longer than two fades");
    for c in 0..2 {
        let mut since_settled = 0;
        for t in 0..len {
            let sum: f32 = stems.iter().map(|s| s[c][t]).sum();
            let silent = stems.iter().all(|s| s[c][t] == 0.0);
            let sums = (main[c][t] - sum).abs() <= 1e-5;
            since_settled = if sums || silent { 0 } else { since_settled + 1 };
            assert!(
                since_settled <= 3 * fade,
                "sample {t}: main {} vs stems {sum}, {since_settled} samples since the stems last \
                 summed to it or were silent",
                main[c][t]
            );
        }
    }
}

#[test]
fn plain_stereo_still_works_after_stem_outputs() {
    let len = (SR * 2.0) as usize;
    let input = signal::mix(&synthetic_stems(SR as f32, len));
    let mut inst = Instance::new();
    assert!(inst.set_render_mode(true));
    // Stem outputs first, then back to plain stereo on the same instance.
    assert!(inst.select_stem_outputs());
    inst.activate(SR, MAX_BLOCK);
    let (_, stems) = inst.process_with_aux(&input, &PATTERN);
    assert_eq!(stems.len(), 4);
    inst.deactivate();
    assert!(inst.select_layout(2), "no plain stereo configuration");
    assert_eq!(inst.ports(false).len(), 1);
    inst.activate(SR, MAX_BLOCK);
    let lat = inst.latency() as usize;
    let (main, aux) = inst.process_with_aux(&input, &PATTERN);
    assert!(aux.is_empty());
    let null = error_db(&main, &delayed(&input, lat), 0..len);
    // And a fresh instance that never selects a configuration (plain stereo by default).
    let mut fresh = Instance::new();
    assert!(fresh.set_render_mode(true));
    fresh.activate(SR, MAX_BLOCK);
    let (main2, aux2) = fresh.process_with_aux(&input, &PATTERN);
    let null2 = error_db(&main2, &delayed(&input, fresh.latency() as usize), 0..len);
    println!("plain stereo after stem outputs: null {null:.1} dB; default configuration: null {null2:.1} dB");
    assert!(aux2.is_empty());
    assert!(null <= -100.0 && null2 <= -100.0);
}
