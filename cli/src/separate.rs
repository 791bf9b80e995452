//! `demix separate`: decode → separate (whole file, latency removed) → write one file per stem.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use demix_engine::dsp::shaping::ShapingSettings;
use demix_engine::dsp::stft::Latency;
use demix_engine::stem::{N_STEMS, STEM_NAMES};
use demix_engine::worker::offline;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audio::{self, find_stem_file, Audio, OutFormat};
use crate::baseline;
use crate::engines::{self, EngineChoice, EngineSetup, ResolvedEngine};
use crate::metrics;
use crate::plot;

/// What to write for each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One file per selected stem (`--stems`, default all four).
    Stems,
    /// Only the vocals (`vocals.<ext>`).
    Acapella,
    /// Everything but the vocals, as one file (`instrumental.<ext>`).
    Instrumental,
}

/// Options of `demix separate`.
#[derive(Debug, Clone)]
pub struct SeparateOptions {
    /// Input files.
    pub inputs: Vec<PathBuf>,
    /// Output folder; each input gets `out_dir/<song>/`.
    pub out_dir: PathBuf,
    /// Requested engine.
    pub engine: EngineChoice,
    /// Model file for the neural engine.
    pub model: Option<PathBuf>,
    /// Stem indices to write in [`Mode::Stems`].
    pub stems: Vec<usize>,
    /// Output format.
    pub format: OutFormat,
    /// Output mode.
    pub mode: Mode,
    /// Folder with the true stems, to print SDR.
    pub reference_dir: Option<PathBuf>,
    /// No progress bar.
    pub quiet: bool,
    /// Also write `spectrogram.png` (mixture and each written stem) next to the stems.
    pub plot: bool,
    /// Stereo refinement after the masks (see `demix_engine::dsp::spatial`).
    pub stereo_refine: bool,
    /// STFT latency (the plugin's Latency choice).
    pub latency: Latency,
}

/// Parses `vocals,drums,...` into stem indices (in the engine's order, no duplicates).
pub fn parse_stems(list: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let i = STEM_NAMES.iter().position(|s| s.eq_ignore_ascii_case(name)).ok_or_else(|| {
            anyhow!("unknown stem '{name}' (expected some of {})", STEM_NAMES.join(","))
        })?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    if out.is_empty() {
        bail!("--stems is empty");
    }
    out.sort_unstable();
    Ok(out)
}

/// Runs the command; returns the number of files that failed. Errors only for problems that
/// stop the whole batch (e.g. the output folder cannot be created, the engine is unavailable).
pub fn run(opts: &SeparateOptions) -> Result<usize> {
    let (engine, warnings) = engines::resolve(opts.engine, opts.model.as_deref())?;
    for w in warnings {
        eprintln!("demix: warning: {w}");
    }
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| anyhow!("cannot create output folder {}: {e}", opts.out_dir.display()))?;
    let mut failed = 0;
    let mut used_names = HashSet::new();
    let n = opts.inputs.len();
    for (k, input) in opts.inputs.iter().enumerate() {
        let song = unique_song_name(input, &mut used_names);
        match separate_one(opts, &engine, input, &song, k, n) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("demix: error: {}: {e:#}", input.display());
                failed += 1;
            }
        }
    }
    if n > 1 {
        eprintln!("demix: {} of {n} file(s) separated, {failed} failed", n - failed);
    }
    Ok(failed)
}

fn unique_song_name(input: &Path, used: &mut HashSet<String>) -> String {
    let base = input.file_stem().and_then(|s| s.to_str()).unwrap_or("track").to_string();
    let mut name = base.clone();
    let mut i = 2;
    while !used.insert(name.clone()) {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

fn progress_bar(opts: &SeparateOptions, input: &Path, k: usize, n: usize) -> ProgressBar {
    if opts.quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(1000);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg} (eta {eta})")
            .unwrap()
            .progress_chars("=> "),
    );
    let name = input.file_name().and_then(|s| s.to_str()).unwrap_or("?");
    pb.set_prefix(if n > 1 { format!("[{}/{n}] {name}", k + 1) } else { name.to_string() });
    pb
}

fn separate_one(
    opts: &SeparateOptions,
    engine: &EngineSetup,
    input: &Path,
    song: &str,
    k: usize,
    n: usize,
) -> Result<()> {
    let decoded = audio::decode(input)?;
    for w in &decoded.warnings {
        eprintln!("demix: warning: {}: {w}", input.display());
    }
    let mix = decoded.audio;
    let pb = progress_bar(opts, input, k, n);
    pb.set_message("separating");
    let t0 = Instant::now();
    let stems = if engine.kind == ResolvedEngine::Baseline {
        baseline::separate(&mix.channels, mix.sample_rate, |f| pb.set_position((f * 900.0) as u64))
    } else {
        let cfg = engine.stft_config(mix.sample_rate, opts.latency);
        let mut sep = engine.make_separator(cfg, mix.n_channels())?;
        let shaping = ShapingSettings { stereo_refine: opts.stereo_refine, ..Default::default() };
        offline::separate(&mix.channels, mix.sample_rate as f32, cfg, sep.as_mut(), &shaping, |f| {
            pb.set_position((f * 900.0) as u64)
        })
    };
    let secs = t0.elapsed().as_secs_f64();
    pb.set_message("writing");
    let outputs = outputs_for(opts, &mix, stems);
    let dir = opts.out_dir.join(song);
    std::fs::create_dir_all(&dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
    for (i, (name, audio)) in outputs.iter().enumerate() {
        let path = dir.join(format!("{name}.{}", opts.format.extension()));
        audio::write_audio(&path, audio, opts.format)?;
        pb.set_position(900 + (100 * (i + 1) / outputs.len()) as u64);
    }
    if opts.plot {
        pb.set_message("plotting");
        let mut panels = vec![plot::Panel {
            title: "mixture".into(),
            channels: &mix.channels,
            sample_rate: mix.sample_rate,
        }];
        for (name, audio) in &outputs {
            panels.push(plot::Panel {
                title: name.clone(),
                channels: &audio.channels,
                sample_rate: audio.sample_rate,
            });
        }
        let header = format!("{song}: {}", engine.name());
        let path = dir.join("spectrogram.png");
        plot::write_png(&path, &plot::render(&panels, &header))?;
    }
    pb.finish_and_clear();
    let dur = mix.len() as f64 / mix.sample_rate as f64;
    eprintln!(
        "demix: {} → {}/ ({} file(s), {:.1} s of audio at {} Hz, {} ch, {} engine, separated in {:.2} s = {:.3}× real time)",
        input.display(),
        dir.display(),
        outputs.len(),
        dur,
        mix.sample_rate,
        mix.n_channels(),
        engine.name(),
        secs,
        if dur > 0.0 { secs / dur } else { 0.0 },
    );
    if let Some(refdir) = &opts.reference_dir {
        report_sdr(refdir, song, &mix, &outputs)?;
    }
    Ok(())
}

/// The named signals to write for one input in the chosen mode.
fn outputs_for(
    opts: &SeparateOptions,
    mix: &Audio,
    mut stems: offline::Stems,
) -> Vec<(String, Audio)> {
    let sr = mix.sample_rate;
    match opts.mode {
        Mode::Stems => opts
            .stems
            .iter()
            .map(|&s| {
                (
                    STEM_NAMES[s].to_string(),
                    Audio { sample_rate: sr, channels: std::mem::take(&mut stems[s]) },
                )
            })
            .collect(),
        Mode::Acapella => vec![(
            "vocals".into(),
            Audio { sample_rate: sr, channels: std::mem::take(&mut stems[0]) },
        )],
        Mode::Instrumental => {
            let mut acc = std::mem::take(&mut stems[1]);
            for s in stems.iter().take(N_STEMS).skip(2) {
                for (a, b) in acc.iter_mut().zip(s) {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                }
            }
            vec![("instrumental".into(), Audio { sample_rate: sr, channels: acc })]
        }
    }
}

/// Loads a reference stem and checks it against the mixture's rate; None if not present.
fn load_reference(dir: &Path, song: &str, name: &str, mix: &Audio) -> Result<Option<Audio>> {
    let Some(path) = find_stem_file(dir, Some(song), name) else {
        return Ok(None);
    };
    let d = audio::decode(&path).map_err(|e| anyhow!("reference {}: {e}", path.display()))?;
    if d.audio.sample_rate != mix.sample_rate {
        bail!(
            "reference {} is at {} Hz but the mixture at {} Hz",
            path.display(),
            d.audio.sample_rate,
            mix.sample_rate
        );
    }
    Ok(Some(d.audio))
}

fn report_sdr(refdir: &Path, song: &str, mix: &Audio, outputs: &[(String, Audio)]) -> Result<()> {
    println!("{song}: SDR against {}", refdir.display());
    println!("  {:<14} {:>9} {:>9}", "stem", "SDR dB", "SI-SDR dB");
    let mut found = 0;
    for (name, est) in outputs {
        let reference = if name == "instrumental" {
            match load_reference(refdir, song, "instrumental", mix)? {
                Some(r) => Some(r),
                None => sum_references(refdir, song, &["drums", "bass", "other"], mix)?,
            }
        } else {
            load_reference(refdir, song, name, mix)?
        };
        let Some(r) = reference else {
            println!("  {name:<14} {:>9} {:>9}", "-", "-");
            continue;
        };
        found += 1;
        let r = crate::eval::match_channels(r.channels, est.n_channels());
        println!(
            "  {name:<14} {:>9.2} {:>9.2}",
            metrics::sdr_mdx(&r, &est.channels),
            metrics::si_sdr(&r, &est.channels)
        );
    }
    if found == 0 {
        bail!("no reference stems found in {} (expected <stem>.wav/.flac/…)", refdir.display());
    }
    Ok(())
}

fn sum_references(dir: &Path, song: &str, names: &[&str], mix: &Audio) -> Result<Option<Audio>> {
    let mut acc: Option<Audio> = None;
    for n in names {
        let Some(r) = load_reference(dir, song, n, mix)? else {
            return Ok(None);
        };
        match &mut acc {
            None => acc = Some(r),
            Some(a) => {
                for (x, y) in a.channels.iter_mut().zip(&r.channels) {
                    for (u, v) in x.iter_mut().zip(y) {
                        *u += v;
                    }
                }
            }
        }
    }
    Ok(acc)
}
