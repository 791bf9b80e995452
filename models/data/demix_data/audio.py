"""Audio helpers: loading packaged sounds, resampling, per-stem effects.

All effects are plain numpy/scipy so that a rendered stem contains exactly what
is written to disk; the mixture is the sum of the written stems.
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile
from math import gcd

import numpy as np
import soundfile as sf
from scipy import signal

SR = 44100


def resample(x: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = gcd(int(sr_in), int(sr_out))
    return signal.resample_poly(x, sr_out // g, sr_in // g, axis=0)


def resample_ratio(x: np.ndarray, ratio: float) -> np.ndarray:
    """Play back `ratio` times faster (pitch up by 12*log2(ratio) semitones)."""
    if abs(ratio - 1) < 1e-4:
        return x
    up = 1000
    down = int(round(up * ratio))
    g = gcd(up, down)
    return signal.resample_poly(x, up // g, down // g, axis=0)


def load_any(path: str, fmt: str | None = None) -> tuple[np.ndarray, int]:
    """Load mono float audio from wav/ogg/raw(16k s16le)/g722 (via ffmpeg)."""
    fmt = fmt or os.path.splitext(path)[1].lstrip(".")
    if fmt == "raw":
        x = np.fromfile(path, dtype="<i2").astype(np.float64) / 32768.0
        return x, 16000
    if fmt == "g722":
        out = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "g722",
                              "-i", path, "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
                             check=True, capture_output=True).stdout
        return np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768.0, 16000
    if fmt == "wz":  # "<archive.wz>:<member>" (zip)
        import zipfile
        arch, member = path.split(":", 1)
        with zipfile.ZipFile(arch) as z:
            x, sr = sf.read(io.BytesIO(z.read(member)), dtype="float64", always_2d=True)
        return x.mean(axis=1), sr
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def load_bytes(b: bytes) -> tuple[np.ndarray, int]:
    x, sr = sf.read(io.BytesIO(b), dtype="float64", always_2d=True)
    return x, sr


def to_stereo(x: np.ndarray) -> np.ndarray:
    if x.ndim == 1:
        return np.stack([x, x], axis=1)
    if x.shape[1] == 1:
        return np.repeat(x, 2, axis=1)
    return x


def fit(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    pad = np.zeros((n - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad], axis=0)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def active_rms(x: np.ndarray, frame: int = 4410) -> float:
    """RMS over the louder half of the frames (ignores silent parts)."""
    m = x if x.ndim == 1 else x.mean(axis=1)
    n = len(m) // frame
    if n == 0:
        return rms(m)
    e = np.sqrt(np.mean(m[: n * frame].reshape(n, frame) ** 2, axis=1))
    e = np.sort(e)[n // 2:]
    return float(np.sqrt(np.mean(e ** 2)) + 1e-12)


def trim_silence(x: np.ndarray, thr_db: float = -45) -> np.ndarray:
    m = np.abs(x if x.ndim == 1 else x.mean(axis=1))
    thr = m.max() * 10 ** (thr_db / 20) if m.max() > 0 else 0
    idx = np.nonzero(m > thr)[0]
    if len(idx) == 0:
        return x[:0]
    return x[max(0, idx[0] - 200): idx[-1] + 200]


def fade(x: np.ndarray, n_in: int = 220, n_out: int = 441) -> np.ndarray:
    x = x.copy()
    n_in = min(n_in, len(x) // 2)
    n_out = min(n_out, len(x) // 2)
    if n_in:
        x[:n_in] *= np.linspace(0, 1, n_in)[:, None] if x.ndim == 2 else np.linspace(0, 1, n_in)
    if n_out:
        x[-n_out:] *= np.linspace(1, 0, n_out)[:, None] if x.ndim == 2 else np.linspace(1, 0, n_out)
    return x


# ------------------------------------------------------------------ filters
def biquad(kind: str, f0: float, gain_db: float = 0.0, q: float = 0.707, sr: int = SR):
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(f0, sr * 0.45) / sr
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
        aa = [1 + alpha / a, -2 * cw, 1 - alpha / a]
    elif kind == "lowshelf":
        sa = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) - (a - 1) * cw + sa), 2 * a * ((a - 1) - (a + 1) * cw), a * ((a + 1) - (a - 1) * cw - sa)]
        aa = [(a + 1) + (a - 1) * cw + sa, -2 * ((a - 1) + (a + 1) * cw), (a + 1) + (a - 1) * cw - sa]
    elif kind == "highshelf":
        sa = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw), a * ((a + 1) + (a - 1) * cw - sa)]
        aa = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        aa = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        aa = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(kind)
    return np.array(b) / aa[0], np.array(aa) / aa[0]


def random_eq(x: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> tuple[np.ndarray, list]:
    ops = []
    if rng.random() < 0.5:
        ops.append(("highpass", float(rng.uniform(30, 150)), 0.0, 0.707))
    if rng.random() < 0.6:
        ops.append(("lowshelf", float(rng.uniform(80, 300)), float(rng.uniform(-6, 6) * strength), 0.707))
    for _ in range(int(rng.integers(0, 3))):
        ops.append(("peak", float(np.exp(rng.uniform(np.log(200), np.log(8000)))),
                    float(rng.uniform(-6, 6) * strength), float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.6:
        ops.append(("highshelf", float(rng.uniform(3000, 10000)), float(rng.uniform(-6, 4) * strength), 0.707))
    if rng.random() < 0.15:
        ops.append(("lowpass", float(rng.uniform(5000, 16000)), 0.0, 0.707))
    for kind, f0, g, q in ops:
        b, a = biquad(kind, f0, g, q)
        x = signal.lfilter(b, a, x, axis=0)
    return x, [dict(kind=k, f0=round(f, 1), gain_db=round(g, 2), q=round(q, 2)) for k, f, g, q in ops]


def compress(x: np.ndarray, thr_db: float, ratio: float, attack_ms: float = 10, release_ms: float = 120,
             sr: int = SR) -> np.ndarray:
    """Feed-forward RMS compressor with make-up gain (stereo-linked)."""
    m = x if x.ndim == 1 else x.mean(axis=1)
    # envelope by one-pole smoothing of the squared signal, on a decimated grid
    hop = 64
    n = len(m) // hop + 1
    p = np.zeros(n)
    sq = np.pad(m ** 2, (0, n * hop - len(m)))
    p = sq.reshape(n, hop).mean(axis=1)
    att = np.exp(-hop / (sr * attack_ms / 1000))
    rel = np.exp(-hop / (sr * release_ms / 1000))
    env = np.empty(n)
    e = 0.0
    for i in range(n):  # n is ~ 700 per second: fine in python
        c = att if p[i] > e else rel
        e = c * e + (1 - c) * p[i]
        env[i] = e
    lvl = 10 * np.log10(env + 1e-12)
    ref = 10 * np.log10(np.mean(m ** 2) + 1e-12)
    thr = ref + thr_db  # threshold relative to the stem's mean level
    over = np.maximum(lvl - thr, 0)
    gain_db = -over * (1 - 1 / ratio)
    gain_db -= np.median(gain_db)  # make-up
    g = 10 ** (np.interp(np.arange(len(m)), np.arange(n) * hop + hop / 2, gain_db) / 20)
    return x * (g[:, None] if x.ndim == 2 else g)


def pan_mono(x: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan, pan in [-1, 1]."""
    th = (pan + 1) * np.pi / 4
    return np.stack([x * np.cos(th), x * np.sin(th)], axis=1) * np.sqrt(2)


def stereo_width(x: np.ndarray, width: float, balance: float = 0.0) -> np.ndarray:
    mid = (x[:, 0] + x[:, 1]) / 2
    side = (x[:, 0] - x[:, 1]) / 2 * width
    l, r = mid + side, mid - side
    return np.stack([l * (1 - max(balance, 0)), r * (1 + min(balance, 0))], axis=1)


def reverb_ir(rng: np.random.Generator, rt60: float, sr: int = SR) -> np.ndarray:
    n = int(sr * min(rt60 * 1.2, 3.0))
    t = np.arange(n) / sr
    env = 10 ** (-3 * t / rt60)
    ir = rng.standard_normal((n, 2)) * env[:, None]
    # darker tail: low-pass the noise progressively (one fixed LP mixed in over time)
    b, a = biquad("lowpass", float(rng.uniform(3000, 9000)))
    lp = signal.lfilter(b, a, ir, axis=0)
    w = np.minimum(t / max(rt60, 1e-3), 1.0)[:, None]
    ir = (1 - w) * ir + w * lp
    pre = int(sr * rng.uniform(0.005, 0.04))
    ir = np.concatenate([np.zeros((pre, 2)), ir])
    return ir / np.sqrt(np.sum(ir ** 2) / 2)


def add_reverb(x: np.ndarray, rng: np.random.Generator, rt60: float, wet: float) -> np.ndarray:
    x = to_stereo(x)
    ir = reverb_ir(rng, rt60)
    y = signal.fftconvolve(x, ir, axes=0)[: len(x)]
    return x * (1 - wet * 0.5) + y * wet


def vibrato(x: np.ndarray, rng: np.random.Generator, rate: float, depth_cents: float, sr: int = SR) -> np.ndarray:
    """Pitch vibrato by a modulated delay line (mono or stereo)."""
    n = len(x)
    t = np.arange(n) / sr
    ph = rng.uniform(0, 2 * np.pi)
    # delay modulation amplitude giving depth_cents at `rate` Hz
    ratio = 2 ** (depth_cents / 1200) - 1
    amp = ratio / (2 * np.pi * rate) * sr
    d = amp * (1 + np.sin(2 * np.pi * rate * t + ph)) + 2
    idx = np.arange(n) - d
    idx = np.clip(idx, 0, n - 1)
    i0 = np.floor(idx).astype(int)
    fr = idx - i0
    i1 = np.minimum(i0 + 1, n - 1)
    if x.ndim == 2:
        fr = fr[:, None]
    return x[i0] * (1 - fr) + x[i1] * fr


def formant_shift(x: np.ndarray, semitones: float, sr: int = SR) -> np.ndarray:
    """Shift the spectral envelope but keep pitch: pitch-shift by resampling
    (moves formants and pitch), then restore pitch with a phase-vocoder-free
    granular (overlap-add) time-domain pitch shifter.  Cheap and voice-like."""
    if abs(semitones) < 0.05:
        return x
    r = 2 ** (semitones / 12)
    y = resample_ratio(x, r)  # formants and pitch up by r, shorter by 1/r
    # time-stretch back to the original length with WSOLA-lite (plain OLA grains)
    return ola_stretch(y, len(x))


def ola_stretch(x: np.ndarray, n_out: int, grain: int = 1764) -> np.ndarray:
    """Stretch/compress x to n_out samples by overlap-adding Hann grains (keeps pitch)."""
    if len(x) < grain * 2:
        return fit(x, n_out)
    hop_out = grain // 2
    n_grains = max(1, (n_out - grain) // hop_out + 1)
    w = np.hanning(grain)
    if x.ndim == 2:
        w = w[:, None]
    out = np.zeros((n_out,) + x.shape[1:])
    norm = np.zeros(n_out)
    src_step = (len(x) - grain) / max(n_grains - 1, 1)
    for g in range(n_grains):
        s = int(round(g * src_step))
        d = g * hop_out
        seg = x[s:s + grain]
        m = min(len(seg), n_out - d)
        if m <= 0:
            break
        out[d:d + m] += seg[:m] * w[:m]
        norm[d:d + m] += np.hanning(grain)[:m]
    norm = np.maximum(norm, 1e-3)
    return out / (norm[:, None] if out.ndim == 2 else norm)


# Lossy codecs of the round trip: name -> (ffmpeg encoder, muxer, demuxer, bit rates in kbit/s).
LOSSY_CODECS = {
    "mp3": ("libmp3lame", "mp3", "mp3", (128, 160, 192, 256, 320)),
    "aac": ("aac", "adts", "aac", (96, 128, 160, 256)),
}
# Largest encoder delay searched for when aligning the decoded audio (AAC primes 1024 samples
# and ADTS does not record it; LAME's header lets ffmpeg trim MP3's).
MAX_CODEC_DELAY = 4096


def lossy_round_trip(x: np.ndarray, codec: str, kbps: int) -> np.ndarray:
    """Encode stereo float audio [n, 2] at SR with `codec` (LOSSY_CODECS) and decode it again,
    aligned to the input (the encoder's delay removed) and of the same length."""
    encoder, muxer, demuxer, _ = LOSSY_CODECS[codec]
    ff = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    pcm = np.ascontiguousarray(x, dtype="<f4").tobytes()
    enc = subprocess.run(ff + ["-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "-",
                               "-c:a", encoder, "-b:a", f"{kbps}k", "-f", muxer, "-"],
                         input=pcm, check=True, capture_output=True).stdout
    dec = subprocess.run(ff + ["-f", demuxer, "-i", "-", "-f", "f32le", "-ar", str(SR), "-ac", "2", "-"],
                         input=enc, check=True, capture_output=True).stdout
    y = np.frombuffer(dec, dtype="<f4").reshape(-1, 2).astype(np.float64)
    # the delay: the lag that best lines the decoded mono sum up with the input's
    a, b = x.sum(axis=1), y.sum(axis=1)
    m = min(len(a), len(b) - MAX_CODEC_DELAY, 10 * SR)
    if m <= SR // 10:
        raise ValueError(f"{codec} round trip returned {len(y)} samples for {len(x)}")
    c = signal.correlate(b[: m + MAX_CODEC_DELAY], a[:m], mode="valid", method="fft")
    lag = int(np.argmax(c))
    return fit(y[lag:], len(x))
