"""Record-like examples: recorded voices sung (WORLD, see singing.py) over instrumental
*recordings*, with a record's vocal chain, mixed and mastered to release loudness.

Each example has two stems, ``vocals`` and ``accompaniment``: how a recording splits into
drums, bass and other is unknown, so these train with a two-part loss (vocals; the sum of the
other three), see demix_model/train.py. The mixture is exactly the sum of the two stems: every
gain of the mix bus and of the limiter is applied to both, and when the mixture goes through a
lossy codec its error is shared out to the stems (``share_codec_error``).

    demix-records --out models/.data/records --split train --minutes 40 --jobs 2
    demix-records --out models/.data/records --split dev --minutes 6

Splits never share a package of accompaniment or a speaker (sources.RECORDINGS,
sources.TUXPAINT_DEV_LANGS): ``dev`` is the real-material development set.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import time
import zipfile
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy import signal

from . import audio as A
from . import singing
from . import sources as S
from .midi import RHYTHMS, Note

from demix_model.config import RECORD_STEMS as STEMS2
GEN_VERSION = 6
# Share of examples whose mixture goes through a lossy codec, per split: the development set stays
# as its published figures were measured (override with --p-lossy).
P_LOSSY = {"train": 0.3, "dev": 0.0}

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}


# ------------------------------------------------------------------ material
def _read_excerpt(item: dict, start_s: float, dur_s: float) -> np.ndarray:
    """Stereo float64 [n, 2] at 44.1 kHz from a recording (file or "<zip>:<member>"), summed with
    its parts (the other tracks of a multitrack, sources.RECORDING_PARTS)."""
    out = None
    for path, member in [(item["file"], item.get("member")), *((p, None) for p in item.get("parts", []))]:
        if member:
            with zipfile.ZipFile(path) as z:
                src = io.BytesIO(z.read(member))
        else:
            src = path
        with sf.SoundFile(src) as f:
            sr = f.samplerate
            f.seek(min(int(start_s * sr), max(0, f.frames - 1)))
            x = f.read(int(dur_s * sr) + 1, dtype="float64", always_2d=True)
        x = A.resample(A.to_stereo(x)[:, :2], sr, A.SR)
        out = x if out is None else A.fit(out, max(len(out), len(x))) + A.fit(x, max(len(out), len(x)))
    return out


@lru_cache(None)
def _duration_s(path: str, member: str | None) -> float:
    if member:
        with zipfile.ZipFile(path) as z:
            return float(sf.info(io.BytesIO(z.read(member))).duration)
    return float(sf.info(path).duration)


def pick_accompaniment(rng: np.random.Generator, split: str, dur_s: float) -> tuple[np.ndarray, dict]:
    """A loud-enough excerpt of an instrumental recording of `split`."""
    items = S.recording_items(split)
    if not items:
        raise RuntimeError(f"no accompaniment recordings installed for split {split!r}")
    for _try in range(12):
        it = items[int(rng.integers(len(items)))]
        total = _duration_s(it["file"], it.get("member"))
        if total < dur_s + 2:
            continue
        t0 = float(rng.uniform(0.5, total - dur_s - 0.5))
        x = _read_excerpt(it, t0, dur_s)
        x = A.fit(x, int(dur_s * A.SR))
        # skip near-silent passages (fade-outs, gaps between cues)
        frames = np.sqrt(np.mean(x[: len(x) // 4410 * 4410].reshape(-1, 4410, 2) ** 2, axis=(1, 2)))
        if np.mean(frames > 10 ** (-40 / 20)) < 0.85:
            continue
        return x, dict(package=it["package"], file=it["file"], member=it.get("member"), parts=it.get("parts", []),
                       licence=it["licence"], start_s=round(t0, 2))
    raise RuntimeError(f"no usable accompaniment excerpt found for split {split!r}")


# ------------------------------------------------------------------ melody
def random_melody(rng: np.random.Generator, n_beats: float) -> tuple[list, list, dict]:
    """A diatonic song melody over `n_beats` (4/4): motifs A and B in a form like AABA, stepwise
    with some leaps, phrases ending on long notes, rests between phrases.
    -> (notes [Note in beats], scale degree of each note, info)"""
    mode = list(SCALES)[int(rng.integers(len(SCALES)))]
    scale = SCALES[mode]
    root = int(rng.integers(55, 67))

    def pitch(d):
        return root + 12 * (d // 7) + scale[d % 7]

    def motif(bars):
        out, d = [], int(rng.choice([0, 2, 4, 7]))
        for b in range(bars):
            rhythm = RHYTHMS[4][int(rng.integers(len(RHYTHMS[4])))]
            t = 0.0
            for k, dur in enumerate(rhythm):
                last = b == bars - 1 and k == len(rhythm) - 1
                if last:  # end of a phrase: a held note, then breath
                    dur_sung = max(0.5, dur - float(rng.choice([0.5, 1.0])) if dur > 1 else dur * 0.5)
                else:
                    dur_sung = dur * float(rng.uniform(0.8, 0.98))
                out.append((b * 4 + t, dur_sung, d))
                t += dur
                step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3, 4, -4],
                                      p=[.12, .17, .1, .1, .17, .1, .12, .03, .03, .03, .03]))
                d = int(np.clip(d + step, -3, 10))
        return out

    bars = int(rng.choice([1, 2]))
    A_, B_ = motif(bars), motif(bars)
    form = ["A", "A", "B", "A"] if rng.random() < 0.6 else ["A", "B", "A", "B"]
    notes, degs, t0, k = [], [], 0.0, 0
    while t0 < n_beats:
        m = A_ if form[k % len(form)] == "A" else B_
        vary = rng.random() < 0.3
        for (t, dur, d) in m:
            if t0 + t >= n_beats:
                break
            dd = d + (int(rng.choice([-1, 1])) if vary and rng.random() < 0.3 else 0)
            notes.append(Note(t0 + t, dur, pitch(dd)))
            degs.append(dd)
        t0 += bars * 4
        k += 1
    return notes, degs, dict(mode=mode, root_midi=root, motif_bars=bars, form="".join(form))


def harmony_line(notes: list, degs: list, root: int, mode: str, interval: int) -> list:
    """The melody moved `interval` scale steps (2: a third above, -5: a fourth below...)."""
    scale = SCALES[mode]
    out = []
    for n, d in zip(notes, degs):
        dd = d + interval
        out.append(Note(n.start, n.dur, root + 12 * (dd // 7) + scale[dd % 7]))
    return out


# ------------------------------------------------------------------ vocal chain
def _deess(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compress only the band above ~6 kHz (sibilants), fast."""
    b, a = A.biquad("highpass", float(rng.uniform(5000, 7500)))
    hi = signal.lfilter(b, a, x, axis=0)
    return x - hi + A.compress(hi, float(rng.uniform(-2, 4)), 4.0, attack_ms=1, release_ms=40)


def _delay(x: np.ndarray, rng: np.random.Generator, beat_s: float) -> tuple[np.ndarray, dict]:
    """Tempo-synced echo, ping-pong with feedback (stereo in, stereo out)."""
    t = beat_s * float(rng.choice([0.5, 0.75, 1.0]))
    n = int(t * A.SR)
    fb, wet = float(rng.uniform(0.2, 0.45)), float(rng.uniform(0.08, 0.22))
    y = np.zeros_like(x)
    tap = x.copy()
    b, a = A.biquad("lowpass", float(rng.uniform(2500, 6000)))
    for k in range(1, 6):
        tap = signal.lfilter(b, a, tap, axis=0) * (fb if k > 1 else 1.0)
        if k * n >= len(x):
            break
        if k % 2:
            tap = tap[:, ::-1]
        y[k * n:] += tap[: len(x) - k * n]
    return x + wet * y, dict(delay_s=round(t, 3), feedback=round(fb, 2), wet=round(wet, 2))


def vocal_chain(parts: list, rng: np.random.Generator, beat_s: float) -> tuple[np.ndarray, dict]:
    """parts: [(mono, role)], role "lead" / "double" / "harmony" -> stereo vocal stem and its
    settings: per-part HPF, EQ, compression, de-essing and panning (lead near the centre, doubles
    and harmonies to the sides), then a shared reverb and sometimes an echo."""
    n = len(parts[0][0])
    bus = np.zeros((n, 2))
    info = {"parts": []}
    for x, role in parts:
        if not np.any(x):
            continue
        b, a = A.biquad("highpass", float(rng.uniform(70, 160)))
        y = signal.lfilter(b, a, x)
        y, eq = A.random_eq(y, rng, strength=0.5)
        thr, ratio = float(rng.uniform(-10, -3)), float(rng.uniform(2, 6))
        y = A.compress(y, thr, ratio, attack_ms=float(rng.uniform(2, 15)), release_ms=float(rng.uniform(60, 200)))
        y = _deess(y, rng)
        if role == "lead":
            pan, g_db = float(rng.uniform(-0.12, 0.12)), 0.0
        elif role == "double":
            pan, g_db = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)), float(rng.uniform(-7, -2))
        else:
            pan, g_db = float(rng.choice([-1, 1]) * rng.uniform(0.2, 0.7)), float(rng.uniform(-12, -5))
        y = y / (A.active_rms(y) + 1e-12) * 10 ** (g_db / 20) * 0.1
        bus += A.pan_mono(y, pan)
        info["parts"].append(dict(role=role, pan=round(pan, 2), gain_db=round(g_db, 1), comp_thr_db=round(thr, 1),
                                  comp_ratio=round(ratio, 1), eq=eq))
    rt60, wet = float(rng.uniform(0.5, 2.6)), float(rng.uniform(0.08, 0.35))
    bus = A.add_reverb(bus, rng, rt60, wet)
    info["reverb"] = dict(rt60_s=round(rt60, 2), wet=round(wet, 2))
    if rng.random() < 0.35:
        bus, info["delay"] = _delay(bus, rng, beat_s)
    return bus, info


# ------------------------------------------------------------------ mastering
def _block_gain(level: np.ndarray, n: int, hop: int) -> np.ndarray:
    return np.interp(np.arange(n), np.arange(len(level)) * hop + hop / 2, level)


def limiter_gain(mix: np.ndarray, ceiling: float, release_ms: float, hop: int = 32,
                 lookahead_blocks: int = 3) -> np.ndarray:
    """Per-sample gain (<= 1) that keeps |mix| under `ceiling`: block peaks, a look-ahead minimum,
    instant attack and exponential release, evaluated per block of `hop` samples."""
    n = len(mix)
    nb = n // hop + 1
    pk = np.pad(np.abs(mix).max(axis=1), (0, nb * hop - n)).reshape(nb, hop).max(axis=1)
    want = np.minimum(1.0, ceiling / np.maximum(pk, 1e-9))
    # look ahead (and behind, so the interpolated gain is already down on both sides of a peak)
    w = np.lib.stride_tricks.sliding_window_view(np.pad(want, lookahead_blocks, constant_values=1.0),
                                                 2 * lookahead_blocks + 1).min(axis=1)
    rel = np.exp(-hop / (A.SR * release_ms / 1000))
    g = np.empty(nb)
    cur = 1.0
    for i in range(nb):
        cur = w[i] if w[i] < cur else rel * cur + (1 - rel) * w[i]
        g[i] = cur
    return _block_gain(g, n, hop)


def bus_gain(mix: np.ndarray, thr_db: float, ratio: float, attack_ms: float = 20, release_ms: float = 250,
             hop: int = 64) -> np.ndarray:
    """Gain curve of a gentle RMS bus compressor (threshold relative to the mix's level)."""
    m = mix.mean(axis=1)
    n = len(m)
    nb = n // hop + 1
    p = np.pad(m ** 2, (0, nb * hop - n)).reshape(nb, hop).mean(axis=1)
    att, rel = np.exp(-hop / (A.SR * attack_ms / 1000)), np.exp(-hop / (A.SR * release_ms / 1000))
    env = np.empty(nb)
    e = float(p[: max(1, nb // 50)].mean())
    for i in range(nb):
        c = att if p[i] > e else rel
        e = c * e + (1 - c) * p[i]
        env[i] = e
    lvl = 10 * np.log10(env + 1e-12)
    thr = 10 * np.log10(np.mean(m ** 2) + 1e-12) + thr_db
    gdb = -np.maximum(lvl - thr, 0) * (1 - 1 / ratio)
    return 10 ** (_block_gain(gdb, n, hop) / 20)


def master(vocals: np.ndarray, acc: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Balance, bus compression, loudness and a limiter; every gain applied to both stems."""
    vr_db = float(rng.uniform(-6, 3))  # vocal level against the band (active parts)
    vocals = vocals / (A.active_rms(vocals) + 1e-12) * A.active_rms(acc) * 10 ** (vr_db / 20)
    mix = vocals + acc
    thr, ratio = float(rng.uniform(-6, 0)), float(rng.uniform(1.5, 3))
    g = bus_gain(mix, thr, ratio)[:, None]
    vocals, acc = vocals * g, acc * g
    mix = vocals + acc
    # release loudness: RMS target in dBFS (about the integrated loudness of dense music)
    target_db = float(rng.uniform(-14, -6))
    pre = target_db - 20 * np.log10(A.rms(mix) + 1e-12)
    ceiling = 10 ** (float(rng.uniform(-1.0, -0.1)) / 20)
    release = float(rng.uniform(30, 200))
    vocals, acc = vocals * 10 ** (pre / 20), acc * 10 ** (pre / 20)
    g = limiter_gain(vocals + acc, ceiling, release)[:, None]
    vocals, acc = vocals * g, acc * g
    peak = float(np.abs(vocals + acc).max())
    if peak > 0.999:  # interpolation overshoot: a plain gain keeps the stems' sum exact
        vocals, acc = vocals * 0.999 / peak, acc * 0.999 / peak
    info = dict(vocal_to_band_db=round(vr_db, 1), bus_comp=dict(thr_db=round(thr, 1), ratio=round(ratio, 2)),
                target_rms_dbfs=round(target_db, 1), drive_db=round(pre, 1),
                limiter=dict(ceiling_dbfs=round(20 * np.log10(ceiling), 2), release_ms=round(release),
                             max_reduction_db=round(float(-20 * np.log10(g.min() + 1e-12)), 1)))
    return vocals, acc, info


def share_codec_error(stems: list, decoded: np.ndarray, n_fft: int = 2048) -> list:
    """Stems that sum exactly to `decoded`, a lossy round trip of their sum: the codec's error
    is shared out bin by bin in proportion to each stem's magnitude (a stem silent in a bin
    takes none of it there), so each stem carries the artefacts a codec leaves in it."""
    err = decoded - sum(stems)
    kw = dict(fs=A.SR, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    # weights: a stem's magnitude in the bin, plus a little of its mean over the frame's bins, so
    # that bins empty in every stem follow the frame's balance instead of an even split
    mags = [np.abs(signal.stft(s.T, **kw)[2]) for s in stems]  # [channels, bins, frames]
    weights = [m + 1e-3 * m.mean(axis=1, keepdims=True) for m in mags]
    total = sum(weights)
    e = signal.stft(err.T, **kw)[2]
    out = []
    for s, w in zip(stems[:-1], weights[:-1]):
        share = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / len(stems))
        part = signal.istft(e * share, **kw)[1].T
        out.append(s + A.fit(part, len(s)))
    out.append(decoded - sum(out))  # the last stem closes the sum exactly
    return out


def lossy(vocals: np.ndarray, acc: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """A lossy round trip (A.LOSSY_CODECS) of the mixture, shared out to both stems."""
    codec = str(rng.choice(sorted(A.LOSSY_CODECS)))
    kbps = int(rng.choice(A.LOSSY_CODECS[codec][3]))
    decoded = A.lossy_round_trip(vocals + acc, codec, kbps)
    vocals, acc = share_codec_error([vocals, acc], decoded)
    return vocals, acc, dict(codec=codec, kbps=kbps)


# ------------------------------------------------------------------ one example
def spoken_track(rng: np.random.Generator, n: int, speakers: dict) -> tuple[np.ndarray, list]:
    """Recorded phrases of one speaker as they are (no vocoder), one after another with pauses."""
    from . import vocals as V
    name = sorted(speakers)[int(rng.integers(len(speakers)))]
    pool, load = speakers[name], V.speech_loader()
    x, items = np.zeros(n), []
    t = int(rng.uniform(0, 2) * A.SR)
    while t < n - A.SR:
        it = pool[int(rng.integers(len(pool)))]
        y = load(it)
        m = min(len(y), n - t)
        x[t:t + m] += A.fade(y[:m])
        items.append(dict(kind="spoken", package=it["package"], file=it["file"], licence=it["licence"],
                          speaker=name, start_s=round(t / A.SR, 3)))
        t += m + int(rng.uniform(0.2, 1.0) * A.SR)
    return x, items


def finish(vocals: np.ndarray, acc: np.ndarray, rng: np.random.Generator,
           p_lossy: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Mastering, then with probability `p_lossy` a lossy round trip (drawn last, so p = 0 leaves
    the random stream, and so every example, as it was)."""
    vocals, acc, mastering = master(vocals, acc, rng)
    mastering["lossy"] = None
    if p_lossy > 0 and rng.random() < p_lossy:
        vocals, acc, mastering["lossy"] = lossy(vocals, acc, rng)
    return vocals, acc, mastering


def render_example(ex_id: str, split: str, seed_seq, dur_s: float, voice: str = "sung",
                   p_lossy: float = 0.0) -> tuple[dict, dict]:
    """-> ({stem: float32 [n, 2]}, meta). voice "spoken": the recorded speech as it is (a check
    that scores do not depend on the vocoder), else sung by WORLD."""
    rng = np.random.default_rng(seed_seq)
    n = int(dur_s * A.SR)
    acc, acc_info = pick_accompaniment(rng, split, dur_s)
    if voice == "spoken":
        lead, items = spoken_track(rng, n, S.record_speakers(split))
        vocals, chain = vocal_chain([(lead, "lead")], rng, 0.5)
        vocals, acc, mastering = finish(vocals, acc, rng, p_lossy)
        stems = {"vocals": vocals.astype(np.float32), "accompaniment": acc.astype(np.float32)}
        licences = sorted({acc_info["licence"]} | {it["licence"] for it in items})
        return stems, dict(song_id=ex_id, split=split, kind="record-spoken", generator_version=GEN_VERSION,
                           duration_s=dur_s, accompaniment=acc_info, vocals=dict(items=items, chain=chain),
                           mastering=mastering, licences=licences)
    tempo = float(rng.uniform(70, 160))
    beat_s = 60.0 / tempo
    n_beats = dur_s / beat_s
    notes, degs, mel = random_melody(rng, n_beats)
    # where the voice sings: one or two spans (verse, a break, chorus)
    a = float(rng.uniform(0, 0.2)) * dur_s
    spans = [(a, dur_s)]
    if rng.random() < 0.4:
        mid = float(rng.uniform(0.35, 0.6)) * dur_s
        spans = [(a, mid), (mid + float(rng.uniform(1.5, 4.0)), dur_s)]
    speakers = S.record_speakers(split)
    lead, items = singing.sung_track(rng, n, notes, spans, beat_s, speakers, max_phrase_s=6.0)
    if not items:
        raise RuntimeError("no phrase could be sung")
    parts = [(lead, "lead")]
    spk = {items[0]["speaker"]: speakers[items[0]["speaker"]]}
    if rng.random() < 0.35:  # a double: the same line again by the same singer
        y, it2 = singing.sung_track(rng, n, notes, spans, beat_s, spk, max_phrase_s=6.0)
        shift = int(rng.integers(0, int(0.025 * A.SR)))
        parts.append((np.concatenate([np.zeros(shift), y[: n - shift]]), "double"))
        items += it2
    if rng.random() < 0.35:  # a harmony a third above or a fourth below, sometimes in the chorus only
        line = harmony_line(notes, degs, mel["root_midi"], mel["mode"], int(rng.choice([2, 2, -3])))
        hspans = spans[-1:] if rng.random() < 0.5 else spans
        y, it3 = singing.sung_track(rng, n, line, hspans, beat_s, speakers, max_phrase_s=6.0)
        parts.append((y, "harmony"))
        items += it3
    vocals, chain = vocal_chain(parts, rng, beat_s)
    vocals, acc, mastering = finish(vocals, acc, rng, p_lossy)
    stems = {"vocals": vocals.astype(np.float32), "accompaniment": acc.astype(np.float32)}
    licences = sorted({acc_info["licence"]} | {it["licence"] for it in items})
    meta = dict(song_id=ex_id, split=split, kind="record", generator_version=GEN_VERSION, duration_s=dur_s,
                tempo=round(tempo, 1), melody=mel, spans_s=[[round(x, 2) for x in s] for s in spans],
                accompaniment=acc_info, vocals=dict(items=items, chain=chain), mastering=mastering,
                licences=licences)
    return stems, meta


# ------------------------------------------------------------------ dataset
def _complete(d, fmt):
    """Whether example folder `d` holds every audio file `_job` writes (its metadata is written
    last, but the folder may have been removed since)."""
    names = list(STEMS2) + (["mixture"] if fmt == "wav" else [])
    return all(os.path.isfile(os.path.join(d, f"{n}.{fmt}")) for n in names)


def _job(args):
    out, split, idx, seed, dur_s, fmt, voice, p_lossy = args
    ex_id = f"r{idx:04d}"
    d = os.path.join(out, split, ex_id)
    meta_p = os.path.join(out, ".meta", split, ex_id + ".json")
    if os.path.exists(meta_p):  # done before by this generator: kept (resumes a stopped run)
        with open(meta_p) as f:
            meta = json.load(f)
        if meta.get("generator_version") == GEN_VERSION and _complete(d, fmt):
            return meta
    ss = np.random.SeedSequence([seed, idx, 0 if split == "train" else 1])
    for attempt in range(3):
        try:
            stems, meta = render_example(ex_id, split, ss.spawn(attempt + 1)[-1], dur_s, voice, p_lossy)
            break
        except (RuntimeError, ValueError) as e:
            last = e
    else:
        raise RuntimeError(f"{ex_id}: {last}")
    os.makedirs(d, exist_ok=True)
    for name, x in stems.items():
        p = os.path.join(d, f"{name}.{fmt}")
        kw = dict(format="OGG", subtype="VORBIS", compression_level=0.8) if fmt == "ogg" else \
            dict(format="WAV", subtype="FLOAT")
        with sf.SoundFile(p + ".part", "w", A.SR, 2, **kw) as f:
            for i in range(0, len(x), 16384):
                f.write(x[i:i + 16384])
        os.replace(p + ".part", p)
    if fmt == "wav":  # the mixture for evaluation with the CLI
        sf.write(os.path.join(d, "mixture.wav"), stems["vocals"] + stems["accompaniment"], A.SR, subtype="FLOAT")
    os.makedirs(os.path.dirname(meta_p), exist_ok=True)
    with open(meta_p + ".part", "w") as f:
        json.dump(meta, f, indent=1, default=float)
    os.replace(meta_p + ".part", meta_p)
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/.data/records")
    ap.add_argument("--split", choices=["train", "dev"], default="train")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seconds", type=float, default=None, help="length of each example (default 24 train, 20 dev)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--fmt", choices=["ogg", "wav"], default=None, help="default: ogg for train, wav for dev")
    ap.add_argument("--voice", choices=["sung", "spoken"], default="sung",
                    help="spoken: the recorded speech without the vocoder (a check set)")
    ap.add_argument("--p-lossy", type=float, default=None,
                    help="share of examples through an MP3/AAC round trip (default: P_LOSSY per split)")
    ap.add_argument("--nice", type=int, default=10)
    a = ap.parse_args(argv)
    if a.nice:
        os.nice(a.nice)
    dur = a.seconds or (24.0 if a.split == "train" else 20.0)
    fmt = a.fmt or ("ogg" if a.split == "train" else "wav")
    count = int(round(a.minutes * 60 / dur))
    p_lossy = P_LOSSY[a.split] if a.p_lossy is None else a.p_lossy
    jobs = [(a.out, a.split, i, a.seed, dur, fmt, a.voice, p_lossy) for i in range(count)]
    t0 = time.time()
    metas = []
    if a.jobs > 1:
        from multiprocessing import Pool
        with Pool(a.jobs) as pool:
            for m in pool.imap(_job, jobs):
                metas.append(m)
                print(f"[{a.split}] {len(metas)}/{count} ({time.time() - t0:.0f} s)", flush=True)
    else:
        for j in jobs:
            metas.append(_job(j))
            print(f"[{a.split}] {len(metas)}/{count} ({time.time() - t0:.0f} s)", flush=True)
    man_p = os.path.join(a.out, f"manifest-{a.split}.json")
    lic = {}
    for m in metas:
        for l in m["licences"]:
            lic[l] = lic.get(l, 0) + 1
    with open(man_p, "w") as f:
        json.dump(dict(kind="records", generator_version=GEN_VERSION, split=a.split, seed=a.seed, p_lossy=p_lossy,
                       examples=len(metas), seconds_each=dur, stems=list(STEMS2), licences=lic,
                       packages=sorted({m["accompaniment"]["package"] for m in metas} |
                                       {it["package"] for m in metas for it in m["vocals"]["items"]}),
                       songs=[dict(song_id=m["song_id"], licences=m["licences"]) for m in metas]), f, indent=1)
    print(f"done: {len(metas)} examples in {time.time() - t0:.0f} s -> {man_p}")


if __name__ == "__main__":
    main()
