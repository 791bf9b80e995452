//! `demix eval`: compares estimated stems with reference stems, per track and stem, and
//! aggregates per stem with the median over tracks (as museval reports).
//!
//! Folder layout (both `--reference` and `--estimates`): either one track,
//! `DIR/<stem>.{wav,flac,…}`, or several, `DIR/<track>/<stem>.*`. Tracks are matched by
//! folder name; stems present in both are evaluated together (BSS-Eval's interference term
//! uses all of them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use demix_engine::stem::STEM_NAMES;
use serde::Serialize;

use crate::audio::{self, find_stem_file, is_audio, Audio};
use crate::bsseval::{self, FILTERS_LEN};
use crate::metrics::{self, nanmedian};

/// Makes `channels` have `n` channels: mono is duplicated, stereo averaged to mono.
pub fn match_channels(mut channels: Vec<Vec<f32>>, n: usize) -> Vec<Vec<f32>> {
    if channels.len() == n || channels.is_empty() {
        return channels;
    }
    if n == 1 {
        let k = channels.len() as f32;
        let len = channels[0].len();
        let mono = (0..len).map(|i| channels.iter().map(|c| c[i]).sum::<f32>() / k).collect();
        return vec![mono];
    }
    let first = channels.swap_remove(0);
    vec![first; n]
}

/// Options of `demix eval`.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Folder with the true stems.
    pub reference: PathBuf,
    /// Folder with the estimated stems.
    pub estimates: PathBuf,
    /// BSS-Eval window and hop in seconds (museval: 1.0 and 1.0).
    pub window_s: f64,
    /// Hop in seconds.
    pub hop_s: f64,
    /// Skip the (slow) BSS-Eval metrics; MDX SDR and SI-SDR only.
    pub no_bss: bool,
}

/// Metrics of one stem of one track.
#[derive(Debug, Clone, Serialize)]
pub struct StemScores {
    /// MDX SDR (whole track), dB.
    pub sdr_mdx: f64,
    /// SI-SDR (whole track), dB.
    pub si_sdr: f64,
    /// BSS-Eval v4 SDR, median over windows (null if not computed or undefined).
    #[serde(rename = "SDR")]
    pub sdr: Option<f64>,
    /// BSS-Eval v4 ISR.
    #[serde(rename = "ISR")]
    pub isr: Option<f64>,
    /// BSS-Eval v4 SIR.
    #[serde(rename = "SIR")]
    pub sir: Option<f64>,
    /// BSS-Eval v4 SAR.
    #[serde(rename = "SAR")]
    pub sar: Option<f64>,
    /// Framewise BSS-Eval values (null = NaN window).
    pub frames: Option<Frames>,
}

/// Framewise BSS-Eval values of one stem.
#[derive(Debug, Clone, Serialize)]
pub struct Frames {
    /// SDR per window.
    #[serde(rename = "SDR")]
    pub sdr: Vec<Option<f64>>,
    /// ISR per window.
    #[serde(rename = "ISR")]
    pub isr: Vec<Option<f64>>,
    /// SIR per window.
    #[serde(rename = "SIR")]
    pub sir: Vec<Option<f64>>,
    /// SAR per window.
    #[serde(rename = "SAR")]
    pub sar: Vec<Option<f64>>,
}

/// One track's results.
#[derive(Debug, Clone, Serialize)]
pub struct TrackScores {
    /// Sample rate of the track.
    pub rate: u32,
    /// Scores per stem.
    pub stems: BTreeMap<String, StemScores>,
    /// Notes (BSS-Eval skipped, regularised, channel mismatch …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Median over tracks of each metric, per stem.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregate {
    /// Tracks with this stem.
    pub tracks: usize,
    /// Median MDX SDR.
    pub sdr_mdx: Option<f64>,
    /// Median SI-SDR.
    pub si_sdr: Option<f64>,
    /// Median of the per-track BSS-Eval SDR.
    #[serde(rename = "SDR")]
    pub sdr: Option<f64>,
    /// Median ISR.
    #[serde(rename = "ISR")]
    pub isr: Option<f64>,
    /// Median SIR.
    #[serde(rename = "SIR")]
    pub sir: Option<f64>,
    /// Median SAR.
    #[serde(rename = "SAR")]
    pub sar: Option<f64>,
}

/// Everything `demix eval` computes (the JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Method description.
    pub method: String,
    /// Per track.
    pub tracks: BTreeMap<String, TrackScores>,
    /// Per stem, median over tracks.
    pub aggregate: BTreeMap<String, Aggregate>,
    /// Tracks that could not be evaluated, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
}

fn opt(x: f64) -> Option<f64> {
    if x.is_nan() {
        None
    } else {
        Some(x)
    }
}

/// Stem names (file stems) of the audio files directly in `dir`, sorted.
fn stems_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_audio(p))
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Tracks under `dir`: `(name, folder)`; a folder holding stem files is one track.
fn tracks_in(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    if !stems_in(dir).is_empty() {
        let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("track").to_string();
        return Ok(vec![(name, dir.to_path_buf())]);
    }
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !stems_in(p).is_empty())
        .filter_map(|p| p.file_name().and_then(|s| s.to_str()).map(|n| (n.to_string(), p.clone())))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("no audio stems in {} (expected <stem>.wav or <track>/<stem>.wav)", dir.display());
    }
    Ok(v)
}

/// Orders stem names: the engine's stems first, in its order, then the rest alphabetically.
fn order_stems(mut names: Vec<String>) -> Vec<String> {
    names
        .sort_by_key(|n| (STEM_NAMES.iter().position(|s| s == n).unwrap_or(usize::MAX), n.clone()));
    names
}

fn load(path: &Path) -> Result<Audio> {
    let d = audio::decode(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for w in &d.warnings {
        eprintln!("demix: warning: {}: {w}", path.display());
    }
    Ok(d.audio)
}

/// Evaluates one track given its reference and estimate folders.
pub fn eval_track(ref_dir: &Path, est_dir: &Path, opts: &EvalOptions) -> Result<TrackScores> {
    let ref_stems = stems_in(ref_dir);
    let est_stems = stems_in(est_dir);
    let stems = order_stems(ref_stems.iter().filter(|s| est_stems.contains(s)).cloned().collect());
    if stems.is_empty() {
        bail!(
            "no stem names in common (reference: {}; estimates: {})",
            ref_stems.join(","),
            est_stems.join(",")
        );
    }
    let mut refs = Vec::new();
    let mut ests = Vec::new();
    let mut notes = Vec::new();
    let mut rate = 0;
    for s in &stems {
        let r = load(&find_stem_file(ref_dir, None, s).unwrap())?;
        let e = load(&find_stem_file(est_dir, None, s).unwrap())?;
        if rate == 0 {
            rate = r.sample_rate;
        }
        if r.sample_rate != rate || e.sample_rate != rate {
            bail!(
                "stem {s}: sample rates differ (reference {} Hz, estimate {} Hz, track {rate} Hz)",
                r.sample_rate,
                e.sample_rate
            );
        }
        refs.push(r);
        ests.push(e);
    }
    let nchan = refs.iter().map(Audio::n_channels).max().unwrap_or(1);
    let len = refs.iter().map(Audio::len).max().unwrap_or(0);
    let fit = |a: Audio, what: &str, s: &str, notes: &mut Vec<String>| -> Vec<Vec<f32>> {
        if a.n_channels() != nchan {
            notes.push(format!("{what} {s}: {} channel(s) converted to {nchan}", a.n_channels()));
        }
        // museval's pad_or_truncate: zeros at the end, or cut to the reference length.
        match_channels(a.channels, nchan)
            .into_iter()
            .map(|mut c| {
                c.resize(len, 0.0);
                c
            })
            .collect()
    };
    let refs: Vec<Vec<Vec<f32>>> =
        refs.into_iter().zip(&stems).map(|(a, s)| fit(a, "reference", s, &mut notes)).collect();
    let ests: Vec<Vec<Vec<f32>>> =
        ests.into_iter().zip(&stems).map(|(a, s)| fit(a, "estimate", s, &mut notes)).collect();
    let bss = if opts.no_bss {
        None
    } else {
        let win = (opts.window_s * rate as f64) as usize;
        let hop = (opts.hop_s * rate as f64) as usize;
        match bsseval::bss_eval_v4(&refs, &ests, win.max(1), hop.max(1), FILTERS_LEN) {
            Ok(b) => {
                if b.regularized {
                    notes.push("BSS-Eval: distortion-filter system needed diagonal loading".into());
                }
                Some(b)
            }
            Err(e) => {
                notes.push(format!("BSS-Eval skipped: {e}"));
                None
            }
        }
    };
    let mut out = BTreeMap::new();
    for (k, s) in stems.iter().enumerate() {
        let (sdr, isr, sir, sar, frames) = match &bss {
            Some(b) => {
                let m = b.medians(k);
                let f = |v: &Vec<f64>| v.iter().map(|&x| opt(x)).collect();
                (
                    opt(m[0]),
                    opt(m[1]),
                    opt(m[2]),
                    opt(m[3]),
                    Some(Frames {
                        sdr: f(&b.sdr[k]),
                        isr: f(&b.isr[k]),
                        sir: f(&b.sir[k]),
                        sar: f(&b.sar[k]),
                    }),
                )
            }
            None => (None, None, None, None, None),
        };
        out.insert(
            s.clone(),
            StemScores {
                sdr_mdx: metrics::sdr_mdx(&refs[k], &ests[k]),
                si_sdr: metrics::si_sdr(&refs[k], &ests[k]),
                sdr,
                isr,
                sir,
                sar,
                frames,
            },
        );
    }
    Ok(TrackScores { rate, stems: out, notes })
}

/// Runs the evaluation over all tracks (errors per track are recorded, not fatal).
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport> {
    let ref_tracks = tracks_in(&opts.reference).context("reference")?;
    let est_tracks = tracks_in(&opts.estimates).context("estimates")?;
    let single = ref_tracks.len() == 1 && est_tracks.len() == 1;
    let mut tracks = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for (name, rdir) in &ref_tracks {
        let edir = if single {
            Some(est_tracks[0].1.clone())
        } else {
            est_tracks.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone())
        };
        let Some(edir) = edir else {
            failed.insert(name.clone(), "no estimates for this track".to_string());
            continue;
        };
        match eval_track(rdir, &edir, opts) {
            Ok(t) => {
                for n in &t.notes {
                    eprintln!("demix: note: {name}: {n}");
                }
                tracks.insert(name.clone(), t);
            }
            Err(e) => {
                eprintln!("demix: error: {name}: {e:#}");
                failed.insert(name.clone(), format!("{e:#}"));
            }
        }
    }
    let mut aggregate = BTreeMap::new();
    let all_stems = order_stems({
        let mut v: Vec<String> = tracks.values().flat_map(|t| t.stems.keys().cloned()).collect();
        v.sort();
        v.dedup();
        v
    });
    for s in &all_stems {
        let per: Vec<&StemScores> = tracks.values().filter_map(|t| t.stems.get(s)).collect();
        let med = |f: &dyn Fn(&StemScores) -> Option<f64>| {
            opt(nanmedian(&per.iter().map(|x| f(x).unwrap_or(f64::NAN)).collect::<Vec<_>>()))
        };
        aggregate.insert(
            s.clone(),
            Aggregate {
                tracks: per.len(),
                sdr_mdx: med(&|x| Some(x.sdr_mdx)),
                si_sdr: med(&|x| Some(x.si_sdr)),
                sdr: med(&|x| x.sdr),
                isr: med(&|x| x.isr),
                sir: med(&|x| x.sir),
                sar: med(&|x| x.sar),
            },
        );
    }
    let method = format!(
        "SDR_mdx = 10log10((Σs²+1e-7)/(Σ(s-ŝ)²+1e-7)) over the whole track; SI-SDR over the whole track; \
         SDR/ISR/SIR/SAR: BSS-Eval v4 images (museval-compatible, {FILTERS_LEN}-tap time-invariant filters, \
         window {} s, hop {} s), median over windows; aggregate: median over tracks",
        opts.window_s, opts.hop_s
    );
    Ok(EvalReport { method, tracks, aggregate, failed })
}

fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_infinite() => {
            if v > 0.0 {
                "inf".into()
            } else {
                "-inf".into()
            }
        }
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

/// The table printed by `demix eval`.
pub fn table(report: &EvalReport) -> String {
    let mut s = String::new();
    let header = format!(
        "{:<28} {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "track", "stem", "SDRmdx", "SI-SDR", "SDR", "ISR", "SIR", "SAR"
    );
    s += &header;
    for (name, t) in &report.tracks {
        for (stem, m) in
            order_stems(t.stems.keys().cloned().collect()).iter().map(|k| (k, &t.stems[k]))
        {
            s += &format!(
                "{:<28} {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                truncate(name, 28),
                stem,
                fmt(Some(m.sdr_mdx)),
                fmt(Some(m.si_sdr)),
                fmt(m.sdr),
                fmt(m.isr),
                fmt(m.sir),
                fmt(m.sar)
            );
        }
    }
    s += &format!("\nmedian over {} track(s):\n", report.tracks.len());
    s += &header.replacen("track", "tracks", 1);
    for (stem, a) in order_stems(report.aggregate.keys().cloned().collect())
        .iter()
        .map(|k| (k, &report.aggregate[k]))
    {
        s += &format!(
            "{:<28} {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            a.tracks,
            stem,
            fmt(a.sdr_mdx),
            fmt(a.si_sdr),
            fmt(a.sdr),
            fmt(a.isr),
            fmt(a.sir),
            fmt(a.sar)
        );
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// CSV: one row per track and stem, then `median` rows per stem.
pub fn csv(report: &EvalReport) -> String {
    let c = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    let mut s = String::from("track,stem,sdr_mdx,si_sdr,SDR,ISR,SIR,SAR\n");
    for (name, t) in &report.tracks {
        for (stem, m) in &t.stems {
            s += &format!(
                "{},{stem},{},{},{},{},{},{}\n",
                name.replace(',', ";"),
                m.sdr_mdx,
                m.si_sdr,
                c(m.sdr),
                c(m.isr),
                c(m.sir),
                c(m.sar)
            );
        }
    }
    for (stem, a) in &report.aggregate {
        s += &format!(
            "median,{stem},{},{},{},{},{},{}\n",
            c(a.sdr_mdx),
            c(a.si_sdr),
            c(a.sdr),
            c(a.isr),
            c(a.sir),
            c(a.sar)
        );
    }
    s
}

/// Serialises to JSON (non-finite values, e.g. the +inf of a perfect estimate, become null).
pub fn json(report: &EvalReport) -> Result<String> {
    Ok(serde_json::to_string_pretty(report)?)
}
