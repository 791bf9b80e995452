"""Sung phrases made from recorded speech with the WORLD vocoder (PyPI `pyworld`).

A recorded spoken phrase is analysed into an F0 contour, a spectral envelope (the
speaker's timbre) and a band aperiodicity (breathiness, noise).  The F0 contour is
thrown away and replaced by the melody's (portamento between notes, delayed vibrato,
slight detune and drift); the analysis frames are time-warped so that each syllable's
vowel is held for its note(s) while consonants and unvoiced frames keep (about) their
natural length; then the phrase is resynthesised.  Unvoiced frames stay unvoiced.

    y, info = sing(x, notes, rng)         # x: mono 44.1 kHz; notes: .start/.dur seconds, .pitch MIDI

`sung_track` places such phrases on a song's melody (see song.py, vocal kind "sung").
All randomness comes from the numpy Generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from . import audio as A

FRAME_MS = 5.0  # WORLD frame period
F0_FLOOR, F0_CEIL = 71.0, 800.0
HALF_RANGE = 7  # semitones the melody may lie from its centre ...
ABOVE_SPEECH = 2.0  # ... which sits this far above the speaker's median speaking F0 (people sing a bit higher)
SILENT_DB = 45.0  # frames this far below the phrase's loudest frame are silence
NUCLEUS_DB = 10.0  # voiced frames within this of their syllable's peak are the (stretchable) vowel
MIN_SYLLABLE = 8  # frames (40 ms): shorter voiced runs are consonants, not syllables
SILENCE_KEEP = 0.25  # silent frames are compressed to this fraction of their length
MIN_VOWEL_RATIO = 0.6  # vowels are compressed no further than this before everything is


def available() -> bool:
    try:
        import pyworld  # noqa: F401
        return True
    except Exception:
        return False


def midi_to_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f):
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


@dataclass
class SNote:
    """A melody note in seconds from the phrase start (MIDI pitch, may be fractional)."""
    start: float
    dur: float
    pitch: float


# ------------------------------------------------------------------ analysis
ANALYSIS_SR = 16000  # F0 is estimated on a 16 kHz copy (fast; the envelope uses the full rate)
PERIODIC_MIN = 0.45  # a frame is voiced only if its normalised autocorrelation at the F0 period reaches this


def _periodicity(x: np.ndarray, f0: np.ndarray, sr: int) -> np.ndarray:
    """Normalised autocorrelation at the F0 period lag (best of +-2 samples), 25 ms window per frame."""
    hop = sr * FRAME_MS / 1000.0
    out = np.zeros(len(f0))
    w = int(0.025 * sr)
    xp = np.concatenate([np.zeros(w), x, np.zeros(w + int(sr / F0_FLOOR) + 4)])
    for i in np.nonzero(f0 > 0)[0]:
        c = int(round(i * hop)) + w
        a = xp[c - w // 2: c + w // 2]
        ea = float(np.dot(a, a))
        if ea <= 1e-12:
            continue
        lag = int(round(sr / f0[i]))
        best = 0.0
        for L in range(max(1, lag - 2), lag + 3):
            b = xp[c - w // 2 + L: c + w // 2 + L]
            best = max(best, float(np.dot(a, b)) / np.sqrt(ea * float(np.dot(b, b)) + 1e-20))
        out[i] = best
    return out


def _f0(x: np.ndarray, sr: int) -> np.ndarray:
    """F0 per WORLD frame, 0 where unvoiced or not periodic.  DIO + StoneMask on a 16 kHz copy
    (fast); Harvest (slower, more robust) when DIO finds (almost) no voicing."""
    import pyworld as pw
    n = int(len(x) / sr * 1000.0 / FRAME_MS) + 1
    if len(x) == 0 or np.max(np.abs(x)) < 1e-3:  # silence (some prompt packages ship silence files)
        return np.zeros(n)
    xa = np.ascontiguousarray(A.resample(x, sr, ANALYSIS_SR), dtype=np.float64)
    f0, t = pw.dio(xa, ANALYSIS_SR, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pw.stonemask(xa, f0, t, ANALYSIS_SR)
    if np.mean(f0 > 0) < 0.15:
        f0, _t = pw.harvest(xa, ANALYSIS_SR, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = A.fit(f0, n)
    f0[_periodicity(xa, f0, ANALYSIS_SR) < PERIODIC_MIN] = 0.0
    return f0


def _highpass(x: np.ndarray, sr: int) -> np.ndarray:
    """Remove DC and rumble (some recordings carry a large DC offset that upsets F0 estimation)."""
    sos = signal.butter(2, 50.0, "highpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x) if len(x) > 64 else x - np.mean(x)


def median_f0(x: np.ndarray, sr: int = A.SR) -> float:
    """Median F0 (Hz) of the voiced frames of a phrase (0.0 if none)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if len(x) < sr // 20:
        return 0.0
    f0 = _f0(_highpass(x, sr), sr)
    v = f0[f0 > 0]
    return float(np.median(v)) if len(v) else 0.0


def _frame_energy_db(x: np.ndarray, n_frames: int, sr: int) -> np.ndarray:
    """Energy (dB) of a 10 ms window centred on each WORLD frame."""
    hop = sr * FRAME_MS / 1000.0
    half = int(round(hop))
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.round(np.arange(n_frames) * hop).astype(int)
    a = np.clip(centres - half, 0, len(x))
    b = np.clip(centres + half, 0, len(x))
    e = (c[b] - c[a]) / np.maximum(b - a, 1)
    return 10.0 * np.log10(e + 1e-12)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index ranges where mask is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


@dataclass
class Segmentation:
    f0: np.ndarray  # Hz per frame (0 = unvoiced), WORLD's estimate
    energy_db: np.ndarray  # smoothed frame energy
    voiced: np.ndarray  # bool, cleaned voicing
    silent: np.ndarray  # bool
    nucleus: np.ndarray  # bool: vowel frames (voiced, near their syllable's peak): these are stretched
    syllables: list  # [(a, b)] voiced frame ranges, one per syllable
    bounds: list  # chunk boundaries: chunk k = frames [bounds[k], bounds[k+1]) holds syllable k


def segment(x: np.ndarray, sr: int = A.SR, f0: np.ndarray | None = None) -> Segmentation:
    """Voicing, silence and syllable segmentation of a spoken phrase (WORLD frames)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if f0 is None:
        f0 = _f0(x, sr)
    n = len(f0)
    e = _frame_energy_db(x, n, sr)
    es = np.convolve(e, np.ones(5) / 5, mode="same")
    silent = e < e.max() - SILENT_DB
    voiced = (f0 > 0) & ~silent
    # fill voicing holes of 1-2 frames, drop voiced islands shorter than 20 ms
    for a, b in _runs(~voiced):
        if 0 < a and b < n and b - a <= 2:
            voiced[a:b] = True
    for a, b in _runs(voiced):
        if b - a < 4:
            voiced[a:b] = False
    # syllables: voiced runs, split at energy dips between loudness peaks (nasals, liquids)
    syllables = []
    for a, b in _runs(voiced):
        if b - a < MIN_SYLLABLE:  # a voiced consonant or a blip, not a vowel to hold
            continue
        seg = es[a:b]
        peaks, _ = signal.find_peaks(seg, prominence=4.0, distance=16)
        cuts = [a]
        for p0, p1 in zip(peaks[:-1], peaks[1:]):
            c = a + p0 + int(np.argmin(seg[p0:p1]))
            if c - cuts[-1] >= MIN_SYLLABLE and b - c >= MIN_SYLLABLE:
                cuts.append(c)
        cuts.append(b)
        syllables += list(zip(cuts[:-1], cuts[1:]))
    nucleus = np.zeros(n, dtype=bool)
    for a, b in syllables:
        pk = es[a:b].max()
        nucleus[a:b] = es[a:b] >= pk - NUCLEUS_DB
    loud = np.nonzero(~silent)[0]
    first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, n)
    bounds = [min(first, syllables[0][0])] if syllables else [first]
    for (a0, b0), (a1, b1) in zip(syllables[:-1], syllables[1:]):
        if b0 >= a1:  # split inside a voiced run
            bounds.append(a1)
        else:  # unvoiced gap: split at its quietest frame (coda | onset)
            bounds.append(b0 + int(np.argmin(es[b0:a1])))
    if syllables:
        bounds.append(max(last, syllables[-1][1]))
    return Segmentation(f0=f0, energy_db=es, voiced=voiced, silent=silent, nucleus=nucleus,
                        syllables=syllables, bounds=bounds)


# ------------------------------------------------------------------ melody
def fit_range(pitches, centre_midi: float, mode: str = "octave", half: int = HALF_RANGE):
    """Move a melody into [centre - half, centre + half].

    mode "octave" keeps the key (whole-melody octave shift that leaves the fewest notes outside,
    then single notes folded by octaves); "semitone" centres the melody's median exactly first;
    "fold" only folds the notes outside by octaves.
    Returns (new pitches, whole-melody shift in semitones, number of notes folded)."""
    p = np.asarray(pitches, dtype=np.float64)
    med = float(np.median(p))
    if mode == "fold":
        shift = 0.0
    elif mode == "semitone":
        shift = float(np.round(centre_midi - med))
    else:
        best = None
        for k in range(-5, 6):
            q = p + 12 * k
            score = (int(np.sum(np.abs(q - centre_midi) > half)), abs(float(np.median(q)) - centre_midi))
            if best is None or score < best[0]:
                best = (score, 12.0 * k)
        shift = best[1]
    q = p + shift
    folded = 0
    for i in range(len(q)):
        while q[i] > centre_midi + half:
            q[i] -= 12
            folded += 1
        while q[i] < centre_midi - half:
            q[i] += 12
            folded += 1
    return q, shift, folded


def pitch_curve(notes: list, n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Target pitch (MIDI, fractional) per output frame: notes held (rests hold the previous note),
    raised-cosine glides into each following note, delayed vibrato on held notes, a constant detune,
    per-note offsets, slow drift and a little jitter."""
    fp = FRAME_MS / 1000.0
    t = np.arange(n_frames) * fp
    rate = float(rng.uniform(4.5, 6.5))
    depth = float(rng.uniform(0.0, 60.0))
    detune = float(rng.uniform(-8.0, 8.0))
    p = np.full(n_frames, float(notes[0].pitch))
    for nt in notes:
        p[t >= nt.start] = float(nt.pitch)
    cents = np.full(n_frames, detune)
    glides = []
    for cur, nxt in zip(notes[:-1], notes[1:]):
        if nxt.pitch == cur.pitch or nxt.start - (cur.start + cur.dur) > 0.3:
            continue
        g = float(rng.uniform(0.03, 0.12))
        g = min(g, 0.5 * cur.dur, 0.5 * nxt.dur)
        t0 = nxt.start - 0.35 * g
        m = (t >= t0) & (t < t0 + g)
        w = 0.5 - 0.5 * np.cos(np.pi * (t[m] - t0) / max(g, 1e-6))
        p[m] = cur.pitch + (nxt.pitch - cur.pitch) * w
        glides.append(g)
    for nt in notes:
        m = (t >= nt.start) & (t < nt.start + nt.dur)
        cents[m] += float(rng.uniform(-4.0, 4.0))
        delay = float(rng.uniform(0.08, 0.3))
        d = depth * float(rng.uniform(0.6, 1.0))
        r = rate * float(rng.uniform(0.95, 1.05))
        ph = float(rng.uniform(0, 2 * np.pi))
        if nt.dur > delay + 0.1:
            tv = t[m] - nt.start - delay
            ramp = np.clip(tv / 0.2, 0.0, 1.0)
            cents[m] += d * ramp * np.sin(2 * np.pi * r * np.maximum(tv, 0.0) + ph) * (tv > 0)
    # slow drift (two slow sines) and jitter (smoothed noise)
    drift = np.zeros(n_frames)
    for _ in range(2):
        drift += float(rng.uniform(0, 3.0)) * np.sin(2 * np.pi * float(rng.uniform(0.1, 0.6)) * t
                                                      + float(rng.uniform(0, 2 * np.pi)))
    jit = rng.standard_normal(n_frames)
    k = np.hanning(9)
    jit = np.convolve(jit, k / np.sqrt(np.sum(k ** 2)), mode="same") * 1.5
    cents += drift + jit
    info = dict(vibrato_rate_hz=round(rate, 2), vibrato_depth_cents=round(depth, 1), detune_cents=round(detune, 1),
                drift_max_cents=round(float(np.abs(drift).max()) if n_frames else 0.0, 1),
                glide_ms=[round(1000 * g) for g in glides][:32])
    return p + cents / 100.0, info


# ------------------------------------------------------------------ time map
def _chunk_map(cls: np.ndarray, n_out: int) -> tuple[np.ndarray, float]:
    """Fractional source frame (relative to the chunk) for each of n_out output frames.

    cls per source frame: 2 = vowel (stretched to fill the note), 1 = consonant / other voiced
    (natural length), 0 = silence (compressed).  Returns (positions, vowel stretch ratio)."""
    n_v = float(np.sum(cls == 2))
    n_c = float(np.sum(cls == 1))
    n_s = float(np.sum(cls == 0))
    fixed = n_c + SILENCE_KEEP * n_s
    if n_v == 0:
        w = np.ones(len(cls)) * n_out / max(len(cls), 1)
        r = 0.0
    elif fixed + MIN_VOWEL_RATIO * n_v <= n_out:
        r = (n_out - fixed) / n_v
        w = np.where(cls == 2, r, np.where(cls == 1, 1.0, SILENCE_KEEP))
    else:  # note too short for the syllable: compress everything
        s = n_out / (fixed + MIN_VOWEL_RATIO * n_v)
        r = MIN_VOWEL_RATIO * s
        w = np.where(cls == 2, r, np.where(cls == 1, s, SILENCE_KEEP * s))
    cum = np.concatenate([[0.0], np.cumsum(w)])
    cum *= n_out / cum[-1]
    u = np.arange(n_out) + 0.5
    pos = np.interp(u, cum, np.arange(len(cls) + 1, dtype=np.float64)) - 0.5
    return np.clip(pos, 0.0, len(cls) - 1.0), float(r)


def _groups(n_items: int, k: int) -> np.ndarray:
    """Group index (0..k-1) of each of n_items consecutive items, as evenly as possible."""
    return (np.arange(n_items) * k) // n_items


def _warp_envelope(sp: np.ndarray, semitones: float) -> np.ndarray:
    """Move the spectral envelope up/down by `semitones` (formant shift, pitch kept)."""
    if abs(semitones) < 0.05:
        return sp
    a = 2.0 ** (semitones / 12.0)
    bins = np.arange(sp.shape[1], dtype=np.float64)
    src = np.clip(bins / a, 0, sp.shape[1] - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, sp.shape[1] - 1)
    fr = src - i0
    ls = np.log(sp)
    return np.exp(ls[:, i0] * (1 - fr) + ls[:, i1] * fr)


# ------------------------------------------------------------------ singing
def sing(x: np.ndarray, notes: list, rng: np.random.Generator, sr: int = A.SR, speaker_f0: float | None = None,
         fit: str | None = "octave", max_syllables: int | None = None, formant_semitones: float = 0.0,
         return_map: bool = False) -> tuple[np.ndarray, dict]:
    """Sing the melody `notes` (objects with .start/.dur in seconds from the phrase start, .pitch MIDI)
    with the voice of the spoken phrase `x` (mono, sr).

    speaker_f0: the speaker's median F0 in Hz (estimated on x when None); with `fit` ("octave",
    "semitone" or "fold", see fit_range) the melody is moved to within HALF_RANGE semitones of a
    centre ABOVE_SPEECH semitones above it (so from -5 to +9 semitones around the speaking pitch);
    fit=None sings it as written.
    max_syllables: use only the first syllables of x (about one per note).
    Returns (float32 mono of length round(melody end * sr), info); with return_map, info["frame_map"]
    gives per output frame the source frame index (-1 in rests), info["voiced_out"] the output
    voicing, info["pitch_midi"] the target pitch curve and info["source_voiced"] the source voicing."""
    import pyworld as pw

    x = _highpass(np.ascontiguousarray(x, dtype=np.float64), sr)
    notes = sorted([SNote(float(n.start), float(n.dur), float(n.pitch)) for n in notes], key=lambda n: n.start)
    notes = [n for n in notes if n.dur > 0]
    if not notes:
        raise ValueError("no notes to sing")
    for a, b in zip(notes[:-1], notes[1:]):  # no overlaps
        a.dur = max(min(a.dur, b.start - a.start), FRAME_MS / 1000.0)
    total_s = notes[-1].start + notes[-1].dur
    n_out_samples = int(round(total_s * sr))
    fp = FRAME_MS / 1000.0

    if max_syllables is not None:  # about 0.5 s of speech per syllable is plenty: analyse no more
        x = x[: int((0.5 * max_syllables + 1.0) * sr)]
    f0_src = _f0(x, sr)
    seg = segment(x, sr, f0_src)
    if not seg.syllables:
        raise ValueError("no voiced speech in the phrase")
    if speaker_f0 is None or speaker_f0 <= 0:
        v = f0_src[seg.voiced]
        speaker_f0 = float(np.median(v)) if len(v) else 150.0
    centre = float(hz_to_midi(speaker_f0)) + ABOVE_SPEECH
    pitches = [n.pitch for n in notes]
    shift, folded = 0.0, 0
    if fit:
        pitches, shift, folded = fit_range(pitches, centre, fit)
    for n, p in zip(notes, pitches):
        n.pitch = float(p)

    syl, bounds = seg.syllables, seg.bounds
    if max_syllables is not None and len(syl) > max_syllables:
        syl, bounds = syl[:max_syllables], bounds[:max_syllables + 1]
    # analyse only the frames used (CheapTrick and D4C are the slow part)
    a0, b0 = bounds[0], bounds[-1]
    s0 = max(0, int(round(a0 * fp * sr)) - 2048)
    s1 = min(len(x), int(round(b0 * fp * sr)) + 2048)
    f0_used = np.ascontiguousarray(f0_src[a0:b0])
    t_used = np.arange(a0, b0) * fp - s0 / sr
    xs = np.ascontiguousarray(x[s0:s1])
    sp = pw.cheaptrick(xs, f0_used, t_used, sr)
    ap = pw.d4c(xs, f0_used, t_used, sr, threshold=0.0)
    sp = np.maximum(sp, 1e-16)
    sp = _warp_envelope(sp, formant_semitones)
    voiced = seg.voiced[a0:b0]
    cls = np.where(seg.nucleus[a0:b0], 2, np.where(seg.silent[a0:b0], 0, 1))
    cls[~voiced & (cls == 2)] = 1

    # assign syllables to notes: K groups of consecutive syllables and of consecutive notes
    k = min(len(syl), len(notes))
    syl_g = _groups(len(syl), k)
    note_g = _groups(len(notes), k)
    n_frames = int(np.ceil(total_s / fp)) + 2
    src_pos = np.full(n_frames, -1.0)
    ratios = []
    for g in range(k):
        js = np.nonzero(syl_g == g)[0]
        ns = [notes[i] for i in np.nonzero(note_g == g)[0]]
        ca, cb = bounds[js[0]] - a0, bounds[js[-1] + 1] - a0
        fa = int(round(ns[0].start / fp))
        fb = min(n_frames, int(round((ns[-1].start + ns[-1].dur) / fp)))
        if fb - fa < 1 or cb - ca < 1:
            continue
        pos, r = _chunk_map(cls[ca:cb], fb - fa)
        src_pos[fa:fb] = pos + ca
        ratios.append(r)

    inside = src_pos >= 0
    sp_idx = np.clip(src_pos, 0, len(cls) - 1)
    i0 = np.floor(sp_idx).astype(int)
    i1 = np.minimum(i0 + 1, len(cls) - 1)
    fr = (sp_idx - i0)[:, None]
    log_sp = np.log(sp)
    sp_out = np.exp(log_sp[i0] * (1 - fr) + log_sp[i1] * fr)
    ap_out = np.clip(ap[i0] * (1 - fr) + ap[i1] * fr, 0.0, 1.0)
    nearest = np.clip(np.round(sp_idx).astype(int), 0, len(cls) - 1)
    v_out = inside & voiced[nearest]
    curve, pinfo = pitch_curve(notes, n_frames, rng)
    f0_out = np.where(v_out, midi_to_hz(curve), 0.0)
    floor = float(sp.min())
    sp_out[~inside] = floor
    ap_out[~inside] = 1.0
    y = pw.synthesize(np.ascontiguousarray(f0_out), np.ascontiguousarray(sp_out), np.ascontiguousarray(ap_out),
                      sr, FRAME_MS)
    y = A.fit(y, n_out_samples)
    # silence in rests (linear gain between frames: 5 ms ramps)
    gain = np.interp(np.arange(n_out_samples) / sr, np.arange(n_frames) * fp, inside.astype(np.float64))
    y = y * gain
    # level: like the spoken phrase, never above -0.1 dBFS
    xr = A.active_rms(x[s0:s1]) if s1 > s0 else 0.1
    y = y / (A.active_rms(y) + 1e-12) * xr
    pk = float(np.max(np.abs(y))) if len(y) else 0.0
    if pk > 0.99:
        y *= 0.99 / pk
    y = np.nan_to_num(y)
    out_p = [n.pitch for n in notes]
    info = dict(
        speaker_f0_hz=round(float(speaker_f0), 1),
        transpose_semitones=int(shift), octave_folded_notes=int(folded),
        pitch_range_midi=[round(float(min(out_p)), 2), round(float(max(out_p)), 2)],
        n_notes=len(notes), n_syllables=len(syl), notes_per_syllable_max=int(np.bincount(note_g).max()),
        stretch=dict(source_s=round((b0 - a0) * fp, 3), sung_s=round(total_s, 3),
                     vowel_ratio_mean=round(float(np.mean(ratios)) if ratios else 0.0, 2),
                     vowel_ratio_max=round(float(np.max(ratios)) if ratios else 0.0, 2)),
        formant_semitones=round(float(formant_semitones), 2), vocoder="WORLD (PyPI pyworld)", **pinfo)
    if return_map:
        info["frame_map"] = np.where(inside, nearest + a0, -1)
        info["source_voiced"] = seg.voiced.copy()
        info["voiced_out"] = v_out
        info["pitch_midi"] = curve
    return y.astype(np.float32), info


# ------------------------------------------------------------------ songs
def melody_phrases(notes: list, beat_s: float, max_phrase_s: float) -> list[list]:
    """Split melody notes (beats) into phrases at rests of >= 1/2 beat or when a phrase gets long."""
    out: list[list] = []
    for nt in sorted(notes, key=lambda n: n.start):
        if out:
            cur = out[-1]
            end = cur[-1].start + cur[-1].dur
            long = (nt.start + nt.dur - cur[0].start) * beat_s > max_phrase_s
            if (nt.start - end >= 0.5 and len(cur) >= 2) or long:
                out.append([nt])
            else:
                cur.append(nt)
        else:
            out.append([nt])
    return out


def sung_track(rng: np.random.Generator, n_samples: int, melody: list, spans: list, beat_s: float,
               speakers: dict, max_phrase_s: float) -> tuple[np.ndarray, list]:
    """The melody (Note, beats) inside `spans` (seconds) sung by 1-2 recorded speakers of `speakers`
    (sources.voice_speakers(split)), phrase by phrase.  Returns (mono, manifest items)."""
    from . import vocals as V

    out = np.zeros(n_samples)
    items: list[dict] = []
    notes = [nt for nt in melody if any(a <= nt.start * beat_s < b for a, b in spans)]
    if not notes:
        return out, items
    chosen = V.choose_speakers(rng, speakers)
    load = V.speech_loader()
    # per speaker: median speaking F0 (from the first phrase sung) and one octave shift for the whole
    # melody, so the tune keeps its shape and key from phrase to phrase; phrases only fold single notes
    voice: dict[str, tuple[float, float]] = {}
    for ph in melody_phrases(notes, beat_s, max_phrase_s):
        spk = chosen[int(rng.integers(len(chosen)))]
        pool = speakers[spk]
        for _try in range(4):  # a few items are silence or unvoiced: pick another
            it = pool[int(rng.integers(len(pool)))]
            x = load(it)
            extra = []
            # single words / short lines: chain a few from the same speaker (~0.22 s of speech per note)
            while len(x) < 0.22 * len(ph) * A.SR and len(extra) < 4 and rng.random() < 0.85:
                it2 = pool[int(rng.integers(len(pool)))]
                gap = np.zeros(int(rng.uniform(0.03, 0.2) * A.SR))
                x = np.concatenate([x, gap, load(it2)])
                extra.append(it2["file"])
            if spk not in voice:
                f0 = median_f0(x)
                if f0 <= 0:
                    continue
                _p, shift, _f = fit_range([nt.pitch for nt in notes], float(hz_to_midi(f0)) + ABOVE_SPEECH)
                voice[spk] = (f0, shift)
            f0, shift = voice[spk]
            fs = float(rng.uniform(-2.0, 2.0)) if rng.random() < 0.3 else 0.0
            t0 = ph[0].start * beat_s
            sn = [SNote(nt.start * beat_s - t0, nt.dur * beat_s, nt.pitch + shift) for nt in ph]
            try:
                y, info = sing(x, sn, rng, speaker_f0=f0, fit="fold", max_syllables=len(ph), formant_semitones=fs)
            except ValueError:  # no voiced speech in this item
                continue
            info["transpose_semitones"] = int(shift)
            s = int(round(t0 * A.SR))
            m = min(len(y), n_samples - s)
            if m > 0:
                out[s:s + m] += A.fade(y[:m].astype(np.float64))
                items.append(dict(kind="sung", package=it["package"], file=it["file"], licence=it["licence"],
                                  speaker=spk, chained_files=extra, start_s=round(t0, 3), dur_s=round(m / A.SR, 3),
                                  transforms=info))
            break
    return out, items
