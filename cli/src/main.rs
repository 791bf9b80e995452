//! `demix`: offline stem separation, evaluation and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand, ValueEnum};
use demix_cli::audio::OutFormat;
use demix_cli::engines::{EngineChoice, LatencyArg};
use demix_cli::separate::{self, Mode, SeparateOptions};
use demix_engine::dsp::stft::Latency;

#[derive(Parser)]
#[command(name = "demix", version, about = "Music source separation: vocals, drums, bass, other")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// WAV (32-bit float unless --bits 24).
    Wav,
    /// FLAC, 24-bit.
    Flac,
}

#[derive(Subcommand)]
enum Cmd {
    /// Separate audio files into stems: OUTDIR/<song>/<stem>.wav, same rate and length as the input.
    Separate {
        /// Input files (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A; any sample rate; mono, stereo or more).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output folder.
        #[arg(short, long, default_value = "separated")]
        out: PathBuf,
        /// Separation engine.
        #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
        engine: EngineChoice,
        /// ONNX model for the neural engine (default: $DEMIX_MODEL, else demix.onnx beside the executable).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// Stems to write (stems mode), comma-separated.
        #[arg(long, default_value = "vocals,drums,bass,other")]
        stems: String,
        /// Output file format.
        #[arg(long, value_enum, default_value_t = FormatArg::Wav)]
        format: FormatArg,
        /// WAV sample format: 32 (float) or 24 (integer). FLAC is always 24-bit.
        #[arg(long, default_value_t = 32, value_parser = clap::builder::PossibleValuesParser::new(["32", "24"]).map(|s| s.parse::<u32>().unwrap()))]
        bits: u32,
        /// stems: one file per stem; acapella: vocals only; instrumental: one file without vocals.
        #[arg(long, value_enum, default_value_t = Mode::Stems)]
        mode: Mode,
        /// Folder with the true stems (<stem>.wav/.flac, or <song>/<stem>.*): print SDR per stem.
        #[arg(long, value_name = "DIR")]
        reference_dir: Option<PathBuf>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
        /// Also write OUTDIR/<song>/spectrogram.png: the mixture and each written stem.
        #[arg(long)]
        plot: bool,
        /// Turn off stereo refinement (the causal multichannel Wiener filter after the masks).
        #[arg(long)]
        no_stereo_refine: bool,
        /// Latency of the streaming STFT, as the plugin's Latency choice (the output is aligned
        /// to the input either way).
        #[arg(long, value_enum, default_value_t = LatencyArg::Standard)]
        latency: LatencyArg,
    },
    /// Draw spectrograms of audio files as one PNG (one panel per file, log frequency, dBFS).
    Plot {
        /// Audio files, one panel each (in this order).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output PNG (default: spectrogram.png in the first file's folder).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Header line (default: the first file's folder name).
        #[arg(long)]
        title: Option<String>,
    },
    /// Score estimated stems against true stems: SDR (MDX), SI-SDR, BSS-Eval v4 SDR/ISR/SIR/SAR.
    Eval {
        /// True stems: DIR/<stem>.wav (one track) or DIR/<track>/<stem>.wav.
        #[arg(long, value_name = "DIR")]
        reference: PathBuf,
        /// Estimated stems, same layout and names.
        #[arg(long, value_name = "DIR")]
        estimates: PathBuf,
        /// Write the full results (per track, per window, medians) as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write per-track and median scores as CSV.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// BSS-Eval window in seconds (museval: 1).
        #[arg(long, default_value_t = 1.0)]
        window: f64,
        /// BSS-Eval hop in seconds (museval: 1).
        #[arg(long, default_value_t = 1.0)]
        hop: f64,
        /// Skip BSS-Eval (MDX SDR and SI-SDR only; much faster).
        #[arg(long)]
        no_bss: bool,
    },
    /// Measure each engine's cost: worker RTF per hop, audio-thread % per block, latency; with baselines.
    Bench {
        /// Engines: classic, neural (int8 model), neural-fp32; default all that are available.
        #[arg(long, value_delimiter = ',')]
        engines: Option<Vec<String>>,
        /// Neural model (default: $DEMIX_MODEL, else demix.onnx beside the executable).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// fp32 model for neural-fp32 (default: demix_fp32.onnx beside the executable).
        #[arg(long, value_name = "FILE")]
        model_fp32: Option<PathBuf>,
        /// Sample rates in Hz.
        #[arg(long, value_delimiter = ',', default_value = "44100,48000")]
        rates: Vec<u32>,
        /// Host block size in samples.
        #[arg(long, default_value_t = 512)]
        block: usize,
        /// Timed hops per worker measurement (after 100 warm-up hops).
        #[arg(long, default_value_t = 3000)]
        hops: usize,
        /// Seconds of real-time-paced audio-thread blocks per measurement (after 1 s warm-up).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Write the results as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Latency of the streaming STFT, as the plugin's Latency choice.
        #[arg(long, value_enum, default_value_t = LatencyArg::Standard)]
        latency: LatencyArg,
    },
}

#[allow(clippy::too_many_arguments)]
fn run_bench(
    engines: Option<Vec<String>>,
    model: Option<PathBuf>,
    model_fp32: Option<PathBuf>,
    rates: Vec<u32>,
    block: usize,
    hops: usize,
    seconds: f64,
    json: Option<PathBuf>,
    latency: Latency,
) -> anyhow::Result<usize> {
    use demix_cli::bench;
    use demix_cli::engines::{model_or_default, neural_setup, EngineSetup, ResolvedEngine};
    use demix_engine::model::bundle::MODEL_FILE;
    let explicit = engines.is_some();
    let wanted =
        engines.unwrap_or_else(|| vec!["classic".into(), "neural".into(), "neural-fp32".into()]);
    let mut list = Vec::new();
    for name in wanted {
        let setup = match name.as_str() {
            "classic" => Ok(EngineSetup::classic()),
            "neural" => model_or_default(model.as_deref(), MODEL_FILE)
                .and_then(|m| neural_setup(&m))
                .map(|n| EngineSetup { kind: ResolvedEngine::Neural, neural: Some(n) }),
            "neural-fp32" => model_or_default(model_fp32.as_deref(), "demix_fp32.onnx")
                .and_then(|m| neural_setup(&m))
                .map(|n| EngineSetup { kind: ResolvedEngine::Neural, neural: Some(n) }),
            "baseline" => anyhow::bail!("the baseline engine is offline only (whole file, non-causal): nothing real-time to measure"),
            other => anyhow::bail!("unknown engine '{other}' (classic, neural, neural-fp32)"),
        };
        match setup {
            Ok(s) => {
                let label = match &s.neural {
                    Some(n) => format!(
                        "{name} ({})",
                        n.info.quantization.clone().unwrap_or_else(|| "fp32".into())
                    ),
                    None => name.clone(),
                };
                list.push((label, s));
            }
            Err(e) if !explicit => eprintln!("demix: warning: skipping {name}: {e:#}"),
            Err(e) => return Err(e.context(format!("engine {name}"))),
        }
    }
    let opts =
        bench::BenchOptions { engines: list, rates, block, hops, rt_seconds: seconds, latency };
    let report = bench::run(&opts, |m| eprintln!("demix: bench: {m}"))?;
    print!("{}", bench::table(&report));
    if let Some(p) = json {
        std::fs::write(&p, serde_json::to_string_pretty(&report)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
    }
    Ok(0)
}

fn run_plot(
    inputs: Vec<PathBuf>,
    out: Option<PathBuf>,
    title: Option<String>,
) -> anyhow::Result<usize> {
    use demix_cli::{audio, plot};
    let mut decoded = Vec::new();
    let mut failed = 0;
    for p in &inputs {
        match audio::decode(p) {
            Ok(d) => {
                for w in &d.warnings {
                    eprintln!("demix: warning: {}: {w}", p.display());
                }
                decoded.push((p, d.audio));
            }
            Err(e) => {
                eprintln!("demix: error: {}: {e:#}", p.display());
                failed += 1;
            }
        }
    }
    if decoded.is_empty() {
        anyhow::bail!("no input could be read");
    }
    let stem =
        |p: &std::path::Path| p.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
    let folder = |p: &std::path::Path| {
        p.parent().and_then(|d| d.file_name()).and_then(|s| s.to_str()).unwrap_or("").to_string()
    };
    // Panel titles: file names; with the folder when two files share a name.
    let names: Vec<String> = decoded.iter().map(|(p, _)| stem(p)).collect();
    let panels: Vec<plot::Panel> = decoded
        .iter()
        .zip(&names)
        .map(|((p, a), n)| {
            let dup = names.iter().filter(|m| *m == n).count() > 1;
            let title = if dup { format!("{}/{n}", folder(p)) } else { n.clone() };
            plot::Panel { title, channels: &a.channels, sample_rate: a.sample_rate }
        })
        .collect();
    let first = decoded[0].0;
    let out = out.unwrap_or_else(|| first.with_file_name("spectrogram.png"));
    let header = title.unwrap_or_else(|| folder(first));
    plot::write_png(&out, &plot::render(&panels, &header))
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", out.display()))?;
    eprintln!("demix: wrote {}", out.display());
    Ok(failed)
}

fn run_eval(
    reference: PathBuf,
    estimates: PathBuf,
    json: Option<PathBuf>,
    csv: Option<PathBuf>,
    window: f64,
    hop: f64,
    no_bss: bool,
) -> anyhow::Result<usize> {
    use demix_cli::eval;
    let opts = eval::EvalOptions { reference, estimates, window_s: window, hop_s: hop, no_bss };
    let report = eval::evaluate(&opts)?;
    print!("{}", eval::table(&report));
    if let Some(p) = json {
        std::fs::write(&p, eval::json(&report)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = csv {
        std::fs::write(&p, eval::csv(&report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
    }
    if report.tracks.is_empty() {
        anyhow::bail!("no track could be evaluated");
    }
    Ok(report.failed.len())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ctrlc::set_handler(|| {
        demix_cli::audio::remove_partial_files();
        eprintln!("\ndemix: interrupted; partial files removed");
        std::process::exit(130);
    })
    .ok();
    let res = match cli.cmd {
        Cmd::Separate {
            inputs,
            out,
            engine,
            model,
            stems,
            format,
            bits,
            mode,
            reference_dir,
            quiet,
            plot,
            no_stereo_refine,
            latency,
        } => (|| {
            let stems = separate::parse_stems(&stems)?;
            let format = match (format, bits) {
                (FormatArg::Flac, _) => OutFormat::Flac24,
                (FormatArg::Wav, 24) => OutFormat::WavI24,
                (FormatArg::Wav, _) => OutFormat::WavF32,
            };
            let stereo_refine = !no_stereo_refine;
            let opts = SeparateOptions {
                inputs,
                out_dir: out,
                engine,
                model,
                stems,
                format,
                mode,
                reference_dir,
                quiet,
                plot,
                stereo_refine,
                latency: latency.latency(),
            };
            separate::run(&opts)
        })(),
        Cmd::Plot { inputs, out, title } => run_plot(inputs, out, title),
        Cmd::Eval { reference, estimates, json, csv, window, hop, no_bss } => {
            run_eval(reference, estimates, json, csv, window, hop, no_bss)
        }
        Cmd::Bench { engines, model, model_fp32, rates, block, hops, seconds, json, latency } => {
            let latency = latency.latency();
            run_bench(engines, model, model_fp32, rates, block, hops, seconds, json, latency)
        }
    };
    match res {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demix: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
