"""Tests of demix_data.singing: recorded speech turned into singing with the WORLD vocoder (pyworld).

The synthetic "speech" below is built from known parts, so the checks are analytic truths:
a noise burst (an unvoiced consonant) and a sawtooth vowel at a known F0 through a known
formant filter, twice.  Runnable without torch:
    .venv/bin/python -m pytest -q models/tests/test_singing.py
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from scipy import signal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyworld as pw  # models/requirements-data.txt

from demix_data import singing as G
from demix_data import sources as S

SR = 44100
FP = G.FRAME_MS / 1000.0
FORMANTS = [(700.0, 90.0), (1200.0, 110.0), (2600.0, 160.0)]  # (Hz, bandwidth Hz)
NOTES = [G.SNote(0.0, 0.6, 57), G.SNote(0.6, 0.8, 62)]  # A3 then D4, sung as written (fit=None)

HAVE_TOOLS = all(shutil.which(t) for t in ("fluidsynth", "mma", "espeak-ng", "ffmpeg")) and \
    all(os.path.exists(S.SOUNDFONTS[n][0]) for n in ("FluidR3_GM", "Csound_GMbank")) and \
    os.path.isdir(S.AST_DIR) and os.path.isdir(S.OPENMSX_DIR)
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="Debian packages of xtask/debian-packages.txt not installed")


# ------------------------------------------------------------------ the synthetic speaker
def _formant_filter():
    a = np.array([1.0])
    for f, bw in FORMANTS:
        r = np.exp(-np.pi * bw / SR)
        a = np.convolve(a, [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r])
    return np.array([1.0]), a


def _formant_gain(f):
    b, a = _formant_filter()
    return np.abs(signal.freqz(b, a, worN=np.asarray(f, dtype=np.float64), fs=SR)[1])


def _vowel(f0, dur):
    """Band-limited sawtooth (harmonic k has amplitude 1/k) through the formant filter."""
    t = np.arange(int(dur * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(8000 / f0)))
    b, a = _formant_filter()
    y = signal.lfilter(b, a, x)
    return 0.3 * y / np.abs(y).max()


def make_speech(level=1.0):
    """silence | noise 120 ms | vowel 140 Hz 250 ms | gap | noise 100 ms | vowel 150 Hz 300 ms | silence.
    Returns (float32 signal, [(a, b) sample ranges of the noise bursts], [(a, b) of the vowels])."""
    rng = np.random.default_rng(0)
    z = lambda s: np.zeros(int(s * SR))  # noqa: E731
    parts = [z(0.05), rng.standard_normal(int(0.12 * SR)) * 0.05, _vowel(140, 0.25), z(0.06),
             rng.standard_normal(int(0.10 * SR)) * 0.05, _vowel(150, 0.30), z(0.05)]
    e = np.cumsum([0] + [len(p) for p in parts])
    x = np.concatenate(parts) * level
    return x.astype(np.float32), [(e[1], e[2]), (e[4], e[5])], [(e[2], e[3]), (e[5], e[6])]


def periodicity(y, centre, win=0.025):
    """Max normalised autocorrelation over lags of 70-800 Hz (~1 for a pitched sound, ~0.1 for noise)."""
    w = int(win * SR)
    a = y[centre - w // 2: centre + w // 2]
    best = 0.0
    for lag in range(int(SR / 800), int(SR / 70)):
        b = y[centre - w // 2 + lag: centre + w // 2 + lag]
        best = max(best, float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b) + 1e-20)))
    return best


def harmonic_levels_db(y, t0, t1, f0, fmax=3500.0):
    """Energy (dB) of each harmonic k*f0 (+-4 %, so vibrato stays inside) over [t0, t1] seconds."""
    seg = y[int(t0 * SR): int(t1 * SR)].astype(np.float64)
    n = 1 << 16
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n)) ** 2
    fr = np.fft.rfftfreq(n, 1 / SR)
    ks = np.arange(1, int(fmax / f0) + 1)
    lv = np.array([10 * np.log10(spec[(fr > k * f0 * 0.96) & (fr < k * f0 * 1.04)].sum() + 1e-20) for k in ks])
    return ks * f0, lv


def first_formant(freqs, levels_db):
    """Peak of the filter part of the envelope (sawtooth 1/f tilt removed), refined by a parabola
    through the loudest harmonic below 1.1 kHz and its neighbours (in log frequency)."""
    env = levels_db + 20 * np.log10(freqs)
    i = int(np.argmax(np.where(freqs < 1100, env, -np.inf)))
    i = min(max(i, 1), len(freqs) - 2)
    lf = np.log(freqs[i - 1: i + 2])
    c = np.polyfit(lf, env[i - 1: i + 2], 2)
    return float(np.exp(-c[1] / (2 * c[0]))) if c[0] < 0 else float(freqs[i])


@pytest.fixture(scope="module")
def sung():
    """The synthetic phrase sung on NOTES with three seeds (different vibrato, glides, detune)."""
    x, noise, vowels = make_speech()
    out = []
    for seed in (0, 1, 2):
        y, info = G.sing(x, NOTES, np.random.default_rng(seed), fit=None, return_map=True)
        out.append((y, info))
    return x, noise, vowels, out


# ------------------------------------------------------------------ analytic checks
def test_f0_follows_melody_on_held_notes(sung):
    x, _noise, _vowels, out = sung
    for y, info in out:
        f0, t = pw.harvest(y.astype(np.float64), SR, f0_floor=71, f0_ceil=800, frame_period=5)
        for n in NOTES:
            held = (t > n.start + 0.25) & (t < n.start + n.dur - 0.08)  # after the consonant and glide
            assert held.sum() >= 40
            assert np.mean(f0[held] > 0) > 0.9, "held note not voiced"
            cents = 1200 * np.log2(f0[held & (f0 > 0)] / G.midi_to_hz(n.pitch))
            assert abs(np.median(cents)) < 30, (n.pitch, np.median(cents), info["vibrato_depth_cents"])
            assert abs(np.mean(cents)) < 30, (n.pitch, np.mean(cents))
        # the speaker spoke at 140-150 Hz: that pitch is gone (A3 = 220 Hz, D4 = 294 Hz)
        v = f0[f0 > 0]
        assert np.mean(v < 170) < 0.05


def test_pitch_curve_has_vibrato_and_glides_in_range():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        notes = [G.SNote(0.0, 2.0, 60), G.SNote(2.0, 2.0, 64)]
        curve, info = G.pitch_curve(notes, int(4.0 / FP), rng)
        rate, depth = info["vibrato_rate_hz"], info["vibrato_depth_cents"]
        assert 4.5 <= rate <= 6.5 and 0 <= depth <= 60
        assert len(info["glide_ms"]) == 1 and 30 <= info["glide_ms"][0] <= 120
        t = np.arange(len(curve)) * FP
        late = (t > 0.6) & (t < 1.95)  # vibrato fully on
        dev = (curve[late] - 60) * 100
        assert np.abs(dev).max() < depth + 8 + 4 + 6 + 8  # depth + detune + note offset + drift + jitter
        assert np.ptp(dev) >= 0.9 * 2 * 0.6 * depth  # each note gets 60-100 % of the phrase's depth
        if depth > 15:  # the wobble is at the vibrato rate
            d = dev - np.polyval(np.polyfit(t[late], dev, 2), t[late])
            spec = np.abs(np.fft.rfft(d * np.hanning(len(d)), 8192))
            fr = np.fft.rfftfreq(8192, FP)
            band = (fr > 2) & (fr < 12)
            assert abs(fr[band][np.argmax(spec[band])] - rate) < 0.6, (seed, rate)
        # the glide: strictly between the two notes only around the boundary
        mid = (curve > 61.0) & (curve < 63.0)  # more than any vibrato + detune away from both notes
        assert mid.any() and np.all(np.abs(t[mid] - 2.0) < 0.13)


def test_length_matches_melody(sung):
    _x, _n, _v, out = sung
    total = NOTES[-1].start + NOTES[-1].dur
    for y, _info in out:
        assert abs(len(y) - total * SR) <= SR * FP


def test_unvoiced_input_stays_unpitched_and_consonants_keep_their_length(sung):
    _x, noise, _vowels, out = sung
    for y, info in out:
        fm = info["frame_map"]  # source frame of each output frame (-1 in rests)
        src_sample = fm * FP * SR
        from_noise = np.zeros(len(fm), dtype=bool)
        for a, b in noise:  # 10 ms inside each burst
            from_noise |= (fm >= 0) & (src_sample > a + 441) & (src_sample < b - 441)
        natural = sum((b - a - 882) / SR / FP for a, b in noise)
        assert 0.8 * natural <= from_noise.sum() <= 1.2 * natural, (from_noise.sum(), natural)
        assert not info["voiced_out"][from_noise].any(), "noise frames were given a pitch"
        yd = y.astype(np.float64)
        idx = [int(i * FP * SR) for i in np.nonzero(from_noise)[0]]
        idx = [c for c in idx if 1000 < c < len(yd) - 2000]
        per = np.array([periodicity(yd, c) for c in idx])
        assert per.max() < 0.4, "an unvoiced input frame came out pitched"
        assert np.sqrt(np.mean(np.concatenate([yd[c - 200:c + 200] for c in idx]) ** 2)) > 0.01, \
            "the consonant was lost"
        # and the held vowels are pitched
        for n in NOTES:
            c = int((n.start + n.dur - 0.15) * SR)
            assert periodicity(yd, c) > 0.9


def test_output_is_finite_and_within_full_scale():
    x, _n, _v = make_speech(level=3.2)  # a loud phrase (peaks near 1)
    y, _info = G.sing(x, NOTES, np.random.default_rng(3), fit=None)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert np.abs(y).max() <= 1.0 and np.abs(y).max() > 0.05


def test_spectral_envelope_is_kept(sung):
    """Harmonic levels of the sung vowel follow the speaker's envelope (sawtooth tilt x formant
    filter) at the *new* harmonic frequencies, and the first formant stays at 700 Hz."""
    _x, _n, _v, out = sung
    for y, _info in out:
        for n in NOTES:
            f, lv = harmonic_levels_db(y, n.start + 0.25, n.start + n.dur - 0.08, float(G.midi_to_hz(n.pitch)))
            want = 20 * np.log10(_formant_gain(f) / f)
            err = (lv - lv.mean()) - (want - want.mean())
            assert np.sqrt(np.mean(err ** 2)) < 3.0, err
            assert abs(first_formant(f, lv) / 700.0 - 1) < 0.15, first_formant(f, lv)


def test_formant_shift_moves_the_envelope():
    """The measurement above can tell: a 4-semitone formant shift moves F1 up by ~26 %."""
    x, _n, _v = make_speech()
    y, _info = G.sing(x, NOTES, np.random.default_rng(0), fit=None, formant_semitones=4.0)
    n = NOTES[1]
    f, lv = harmonic_levels_db(y, n.start + 0.25, n.start + n.dur - 0.08, float(G.midi_to_hz(n.pitch)))
    assert first_formant(f, lv) > 700 * 1.12


def test_more_notes_than_syllables_is_a_melisma():
    x, _n, _v = make_speech()
    notes = [G.SNote(0.3 * i, 0.3, p) for i, p in enumerate([55, 57, 59, 60, 62])]
    y, info = G.sing(x, notes, np.random.default_rng(7), fit=None)
    assert info["n_syllables"] == 2 and info["notes_per_syllable_max"] == 3
    assert abs(len(y) - 1.5 * SR) <= SR * FP
    f0, t = pw.harvest(y.astype(np.float64), SR, f0_floor=71, f0_ceil=800, frame_period=5)
    for n in notes[1:3] + notes[4:]:  # notes held on a vowel (not starting with a consonant)
        held = (t > n.start + 0.08) & (t < n.start + n.dur - 0.06) & (f0 > 0)
        assert held.sum() > 10
        assert abs(np.median(1200 * np.log2(f0[held] / G.midi_to_hz(n.pitch)))) < 30


def test_range_fitting_follows_the_speaker():
    melody = [60, 62, 64, 65, 67, 69, 71, 72, 74]  # C4..D5
    low, sh_low, _ = G.fit_range(melody, float(G.hz_to_midi(110.0)))  # a low male voice (A2)
    high, sh_high, _ = G.fit_range(melody, float(G.hz_to_midi(220.0)))  # a female voice (A3)
    for p, c in ((low, G.hz_to_midi(110.0)), (high, G.hz_to_midi(220.0))):
        assert np.all(np.abs(p - c) <= G.HALF_RANGE)
    assert sh_low % 12 == 0 and sh_high % 12 == 0  # octaves: the key is kept
    assert np.median(high) - np.median(low) == 12
    p, sh, folded = G.fit_range(melody, 66.0, mode="semitone")
    assert np.median(p) == 66.0 and folded == 0
    # through sing(): the speaker's median F0 sets the range (speech at 140-150 Hz -> about D3)
    x, _n, _v = make_speech()
    _y, info = G.sing(x, [G.SNote(0, 0.5, 76), G.SNote(0.5, 0.5, 79)], np.random.default_rng(0))
    c = float(G.hz_to_midi(info["speaker_f0_hz"])) + G.ABOVE_SPEECH
    assert abs(info["speaker_f0_hz"] - 145) < 8
    assert info["transpose_semitones"] % 12 == 0
    assert all(abs(p - c) <= G.HALF_RANGE for p in info["pitch_range_midi"])


# ------------------------------------------------------------------ in a song
@needs_tools
@pytest.mark.parametrize("split", ["train", "valid"])
def test_tiny_song_with_sung_voice(split, tmp_path):
    import soundfile as sf

    from demix_data.song import STEMS, render_song

    stems, info = render_song(f"test_sung_{split}", split, [123, 3], 4, 6, source="mma", want_voice="sung",
                              soundfont="FluidR3_GM" if split == "train" else None)
    assert info["vocal_kinds"] == ["sung"]
    n = len(stems["vocals"])
    mix = np.zeros((n, 2))
    for s in STEMS:
        assert stems[s].dtype == np.float32 and stems[s].shape == (n, 2) and np.isfinite(stems[s]).all()
        sf.write(str(tmp_path / f"{s}.wav"), stems[s], SR, subtype="FLOAT")
        mix += stems[s].astype(np.float64)
    sf.write(str(tmp_path / "mixture.wav"), mix.astype(np.float32), SR, subtype="FLOAT")
    back = {s: sf.read(str(tmp_path / f"{s}.wav"), dtype="float32")[0] for s in STEMS + ("mixture",)}
    assert np.abs(sum(back[s].astype(np.float64) for s in STEMS) - back["mixture"]).max() < 1e-6
    assert 0 < np.abs(mix).max() <= 1.0
    sung_items = [it for it in info["stems"]["vocals"]["items"] if it["kind"] == "sung"]
    assert sung_items
    speakers = S.voice_speakers(split)
    other = S.voice_speakers("valid" if split == "train" else "train")
    for it in sung_items:
        assert it["package"] and it["file"] and it["licence"] == S.LICENCES[it["package"]]
        assert it["speaker"] in speakers and it["speaker"] not in other
        assert any(v["file"] == it["file"] for v in speakers[it["speaker"]])
        tr = it["transforms"]
        for k in ("speaker_f0_hz", "transpose_semitones", "pitch_range_midi", "vibrato_rate_hz",
                  "vibrato_depth_cents", "glide_ms", "stretch"):
            assert k in tr, k
        c = float(G.hz_to_midi(tr["speaker_f0_hz"])) + G.ABOVE_SPEECH
        assert all(abs(p - c) <= G.HALF_RANGE for p in tr["pitch_range_midi"])
    # the vocal stem really sings in the recorded range (EQ, compression and reverb keep F0)
    voc = stems["vocals"].mean(axis=1).astype(np.float64)
    f0, _t = pw.harvest(voc, SR, f0_floor=71, f0_ceil=800, frame_period=10)
    lo = min(G.midi_to_hz(it["transforms"]["pitch_range_midi"][0]) for it in sung_items)
    hi = max(G.midi_to_hz(it["transforms"]["pitch_range_midi"][1]) for it in sung_items)
    v = f0[f0 > 0]
    assert len(v) > 50
    assert np.mean((v > lo * 2 ** (-1.5 / 12)) & (v < hi * 2 ** (1.5 / 12))) > 0.8
