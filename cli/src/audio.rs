//! Audio file input (any format symphonia decodes) and output (WAV via hound, FLAC via
//! flacenc), with atomic writes: every file is written under a temporary name in the same
//! folder and renamed when complete, so an interrupted run leaves no half-written file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use symphonia::core::audio::{Channels, SampleBuffer};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Decoded audio: `channels[ch][sample]`, all channels of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Samples per channel.
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Samples per channel.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }
}

/// Result of [`decode`]: the audio plus notes worth telling the user (downmix, skipped packets).
pub struct Decoded {
    /// The audio, mono or stereo.
    pub audio: Audio,
    /// Channel count of the file before any downmix.
    pub source_channels: usize,
    /// Human-readable warnings.
    pub warnings: Vec<String>,
}

/// Decodes a whole file (WAV, FLAC, MP3, OGG/Vorbis, AAC/M4A, …). Files with more than two
/// channels are downmixed to stereo (with a warning). Errors are one line, without the path
/// (the caller names the file).
pub fn decode(path: &Path) -> Result<Decoded> {
    let file = File::open(path).map_err(|e| anyhow!("cannot open: {e}"))?;
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        bail!("empty file (0 bytes)");
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let fmt_opts = FormatOptions { enable_gapless: true, ..Default::default() };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => anyhow!("not a supported audio file (unrecognised format)"),
            e => anyhow!("not a readable audio file: corrupt or truncated ({})", sym_msg(&e)),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| anyhow!("no audio track"))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| anyhow!("unsupported codec ({})", sym_msg(&e)))?;
    let mut sample_rate = params.sample_rate;
    let mut layout: Option<Channels> = params.channels;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut n_ch = params.channels.map(|c| c.count()).unwrap_or(0);
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut bad_packets = 0usize;
    let mut good_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                if good_packets == 0 {
                    bail!("corrupt or unsupported audio data ({})", sym_msg(&e));
                }
                bad_packets += 1;
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                good_packets += 1;
                let spec = *decoded.spec();
                if n_ch == 0 {
                    n_ch = spec.channels.count();
                }
                if spec.channels.count() != n_ch {
                    bail!(
                        "channel count changes mid-stream ({} → {})",
                        n_ch,
                        spec.channels.count()
                    );
                }
                layout = Some(spec.channels);
                sample_rate = Some(spec.rate);
                let cap = decoded.capacity() as u64;
                if buf.as_ref().is_none_or(|b| b.capacity() < decoded.capacity() * n_ch) {
                    buf = Some(SampleBuffer::<f32>::new(cap, spec));
                }
                let b = buf.as_mut().unwrap();
                b.copy_interleaved_ref(decoded);
                interleaved.extend_from_slice(b.samples());
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => bad_packets += 1,
            Err(e) => bail!("decoding failed ({})", sym_msg(&e)),
        }
    }
    let sample_rate = sample_rate.ok_or_else(|| anyhow!("unknown sample rate"))?;
    if n_ch == 0 || interleaved.is_empty() {
        if bad_packets > 0 {
            bail!("corrupt audio data: no packet could be decoded");
        }
        bail!("contains no audio samples (zero length)");
    }
    let frames = interleaved.len() / n_ch;
    let mut channels: Vec<Vec<f32>> = (0..n_ch).map(|_| Vec::with_capacity(frames)).collect();
    for f in interleaved.chunks_exact(n_ch) {
        for (c, v) in f.iter().enumerate() {
            channels[c].push(*v);
        }
    }
    let mut warnings = Vec::new();
    if bad_packets > 0 {
        warnings.push(format!("{bad_packets} corrupt packet(s) skipped"));
    }
    let audio = if n_ch > 2 {
        warnings.push(format!("{n_ch} channels downmixed to stereo"));
        downmix_to_stereo(&channels, layout)
    } else {
        channels
    };
    Ok(Decoded { audio: Audio { sample_rate, channels: audio }, source_channels: n_ch, warnings })
}

fn sym_msg(e: &SymError) -> String {
    match e {
        SymError::IoError(io) => format!("I/O error: {io}"),
        SymError::DecodeError(m) => format!("malformed data: {m}"),
        SymError::SeekError(_) => "seek error".into(),
        SymError::Unsupported(m) => format!("unsupported: {m}"),
        SymError::LimitError(m) => format!("limit reached: {m}"),
        SymError::ResetRequired => "decoder reset required".into(),
    }
}

/// Downmixes more than two channels to stereo: left-side channels to the left, right-side to
/// the right, centre (and LFE and unknown-side) channels to both at -3 dB; each side is a
/// weighted average so the level stays within the input's range. Without a known layout,
/// even channels go left and odd channels right.
pub fn downmix_to_stereo(channels: &[Vec<f32>], layout: Option<Channels>) -> Vec<Vec<f32>> {
    let n = channels.len();
    let len = channels.first().map_or(0, Vec::len);
    // (left weight, right weight) per channel, in channel order.
    let weights: Vec<(f32, f32)> = match layout {
        Some(l) if l.count() == n => l
            .iter()
            .map(|c| {
                let left = Channels::FRONT_LEFT
                    | Channels::REAR_LEFT
                    | Channels::FRONT_LEFT_CENTRE
                    | Channels::SIDE_LEFT
                    | Channels::TOP_FRONT_LEFT
                    | Channels::TOP_REAR_LEFT
                    | Channels::FRONT_LEFT_WIDE
                    | Channels::FRONT_LEFT_HIGH;
                let right = Channels::FRONT_RIGHT
                    | Channels::REAR_RIGHT
                    | Channels::FRONT_RIGHT_CENTRE
                    | Channels::SIDE_RIGHT
                    | Channels::TOP_FRONT_RIGHT
                    | Channels::TOP_REAR_RIGHT
                    | Channels::FRONT_RIGHT_WIDE
                    | Channels::FRONT_RIGHT_HIGH;
                if left.contains(c) {
                    (1.0, 0.0)
                } else if right.contains(c) {
                    (0.0, 1.0)
                } else {
                    (std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2)
                }
            })
            .collect(),
        _ => (0..n).map(|i| if i % 2 == 0 { (1.0, 0.0) } else { (0.0, 1.0) }).collect(),
    };
    let wl: f32 = weights.iter().map(|w| w.0).sum::<f32>().max(1e-9);
    let wr: f32 = weights.iter().map(|w| w.1).sum::<f32>().max(1e-9);
    let mut out = vec![vec![0.0f32; len]; 2];
    for (c, (l, r)) in weights.iter().enumerate() {
        for i in 0..len {
            let x = channels[c][i];
            out[0][i] += x * l / wl;
            out[1][i] += x * r / wr;
        }
    }
    out
}

/// Output sample format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    /// WAV, 32-bit float (bit-exact, no clipping).
    WavF32,
    /// WAV, 24-bit integer (clipped to ±1).
    WavI24,
    /// FLAC, 24-bit (pure-Rust encoder `flacenc`; clipped to ±1).
    Flac24,
}

impl OutFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutFormat::WavF32 | OutFormat::WavI24 => "wav",
            OutFormat::Flac24 => "flac",
        }
    }
}

/// Temporary files being written; removed by [`remove_partial_files`] (the Ctrl-C handler).
static PARTIAL: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Deletes every temporary file still being written. Holds the registry lock, so a rename in
/// progress either completes first (the file is whole) or never happens.
pub fn remove_partial_files() {
    let guard = PARTIAL.lock().unwrap_or_else(|e| e.into_inner());
    for p in guard.iter() {
        let _ = std::fs::remove_file(p);
    }
    // Keep the lock held: the caller exits the process next.
    std::mem::forget(guard);
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes `audio` to `path` in `format` via a temporary file renamed at the end.
pub fn write_audio(path: &Path, audio: &Audio, format: OutFormat) -> Result<()> {
    let tmp = temp_path(path);
    PARTIAL.lock().unwrap_or_else(|e| e.into_inner()).push(tmp.clone());
    let res = match format {
        OutFormat::WavF32 | OutFormat::WavI24 => {
            write_wav(&tmp, audio, format == OutFormat::WavF32)
        }
        OutFormat::Flac24 => write_flac(&tmp, audio),
    };
    let mut reg = PARTIAL.lock().unwrap_or_else(|e| e.into_inner());
    let res = res.and_then(|_| {
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
    });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    reg.retain(|p| p != &tmp);
    res
}

fn to_i24(x: f32) -> i32 {
    (x.clamp(-1.0, 1.0) as f64 * 8_388_607.0).round() as i32
}

fn write_wav(path: &Path, audio: &Audio, float: bool) -> Result<()> {
    let spec = hound::WavSpec {
        channels: audio.n_channels() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: if float { 32 } else { 24 },
        sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for i in 0..audio.len() {
        for c in &audio.channels {
            if float {
                w.write_sample(c[i])?;
            } else {
                w.write_sample(to_i24(c[i]))?;
            }
        }
    }
    w.finalize()?;
    Ok(())
}

fn write_flac(path: &Path, audio: &Audio) -> Result<()> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    use flacenc::source::Fill;
    let ch = audio.n_channels();
    let mut samples = Vec::with_capacity(audio.len() * ch);
    for i in 0..audio.len() {
        for c in &audio.channels {
            samples.push(to_i24(c[i]));
        }
    }
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|e| anyhow!("FLAC encoder config: {e:?}"))?;
    // Frame by frame, so the last frame is as short as the remaining samples
    // (`encode_with_fixed_block_size` pads it to a full block: the file would decode longer).
    let mut stream = flacenc::component::Stream::new(audio.sample_rate as usize, ch, 24)
        .map_err(|e| anyhow!("FLAC stream: {e:?}"))?;
    let block = config.block_size;
    for (k, chunk) in samples.chunks(block * ch).enumerate() {
        let mut fb = flacenc::source::FrameBuf::with_size(ch, chunk.len() / ch)
            .map_err(|e| anyhow!("FLAC frame: {e:?}"))?;
        fb.fill_interleaved(chunk).map_err(|e| anyhow!("FLAC frame: {e:?}"))?;
        let frame = flacenc::encode_fixed_size_frame(&config, &fb, k, stream.stream_info())
            .map_err(|e| anyhow!("FLAC encoding failed: {e:?}"))?;
        stream.add_frame(frame);
    }
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| anyhow!("FLAC encoding failed: {e:?}"))?;
    let mut bytes = sink.as_slice().to_vec();
    // STREAMINFO's minimum block size must exclude the (short) last block, as libFLAC writes
    // it; some decoders (symphonia) take min != max for a variable-block-size stream.
    // Layout: "fLaC", 4-byte metadata block header, then min (u16 BE) and max (u16 BE).
    if bytes.len() >= 12 && &bytes[..4] == b"fLaC" && stream.frame_count() > 1 {
        let max = [bytes[10], bytes[11]];
        bytes[8..10].copy_from_slice(&max);
    }
    std::fs::write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// File extensions the CLI reads as audio (lower case).
pub const AUDIO_EXTS: [&str; 7] = ["wav", "flac", "mp3", "ogg", "m4a", "aac", "mp4"];

/// Whether `p` is a file with one of [`AUDIO_EXTS`] (any case).
pub fn is_audio(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Finds `<dir>/<song>/<name>.<ext>` or `<dir>/<name>.<ext>`.
pub fn find_stem_file(dir: &Path, song: Option<&str>, name: &str) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(s) = song {
        dirs.push(dir.join(s));
    }
    dirs.push(dir.to_path_buf());
    for d in dirs {
        for ext in AUDIO_EXTS {
            let p = d.join(format!("{name}.{ext}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}
