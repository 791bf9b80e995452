"""Vocal stem sources: Sinsy singing (pysinsy), espeak-ng speech/rap, real
recorded speech from Debian packages, GM choir layer (rendered in song.py)."""
from __future__ import annotations

import os
import subprocess
import warnings

import numpy as np

from . import audio as A
from . import sources as S
from .midi import Note

# syllables for Sinsy's Japanese voice (hiragana; one mora per note)
KANA = list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん")
KANA_WEIGHTS = None

# a small word list (written for this project) for espeak-ng lyrics
WORDS = ("love night light day way heart fire run home road baby dream time shine rain fall go know feel "
         "alone together forever tonight higher deeper money city street sun moon star sky ocean river "
         "dance move hold touch stay away again never always nothing everything somebody nobody wild free "
         "young old burning falling flying open close tell me you we they say call back over under tomorrow "
         "yesterday morning evening summer winter gold silver blue red black white shadow mirror window door "
         "oh yeah hey no la na whoa uh huh come on right now let go keep moving one two three four").split()


def lyrics_line(rng: np.random.Generator, n_words: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), n_words))


# ------------------------------------------------------------------ Sinsy
_SINSY = None


def sinsy_available() -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pysinsy  # noqa: F401
        return True
    except Exception:
        return False


def _sinsy():
    global _SINSY
    if _SINSY is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pysinsy
        s = pysinsy.sinsy.Sinsy()
        assert s.setLanguages("j", pysinsy.get_default_dic_dir())
        assert s.loadVoices(pysinsy.get_default_htsvoice())
        _SINSY = s
    return _SINSY


def sinsy_sing(notes: list[Note], tempo: float, beats: int, rng: np.random.Generator, workdir: str,
               n_samples: int, offset_s: float = 0.0) -> tuple[np.ndarray, dict]:
    """Sing `notes` (beats) with the Sinsy voice; returns mono 44.1 kHz aligned to the song."""
    import music21 as m21

    # lead-in rest of one bar (Sinsy wants a rest first); notes quantized to 1/4 beat
    q = 0.25
    s = m21.stream.Stream()
    s.append(m21.tempo.MetronomeMark(number=tempo))
    s.append(m21.meter.TimeSignature(f"{beats}/4"))
    t = -float(beats)  # the lead-in rest starts one bar early
    ev = sorted(notes, key=lambda n: n.start)
    lead = beats
    s.append(m21.note.Rest(quarterLength=lead))
    t = 0.0
    syl = []
    for n in ev:
        st = round(n.start / q) * q
        du = max(q, round(n.dur / q) * q)
        if st < t:
            continue
        if st > t:
            s.append(m21.note.Rest(quarterLength=st - t))
        nn = m21.note.Note(int(n.pitch), quarterLength=du)
        ly = KANA[int(rng.integers(len(KANA)))]
        nn.lyric = ly
        syl.append(ly)
        s.append(nn)
        t = st + du
    s.append(m21.note.Rest(quarterLength=beats))
    path = os.path.join(workdir, "sinsy.xml")
    s.write("musicxml", fp=path)
    sy = _sinsy()
    sy.clearScore()
    if not sy.loadScoreFromMusicXML(path):
        raise RuntimeError("sinsy could not load score")
    wav, sr = sy.synthesize()
    wav = np.asarray(wav, dtype=np.float64) / 32768.0
    # Sinsy occasionally produces isolated exploding samples: silence them
    bad = ~np.isfinite(wav) | (np.abs(wav) > 1.5)
    if bad.any():
        idx = np.nonzero(bad)[0]
        for i in idx:
            wav[max(0, i - 64): i + 64] = 0.0
    x = A.resample(wav, sr, A.SR)
    lead_n = int(round(lead * 60.0 / tempo * A.SR))
    x = x[lead_n:]
    # gate: Sinsy leaves a faint noise floor in long rests
    gate = np.zeros(len(x))
    spb = 60.0 / tempo * A.SR
    for n in ev:
        a = max(0, int(n.start * spb - 0.08 * A.SR))
        b = min(len(x), int((n.start + n.dur) * spb + 0.35 * A.SR))
        gate[a:b] = 1.0
    k = np.hanning(int(0.05 * A.SR))
    gate = np.minimum(np.convolve(gate, k / k.sum(), mode="same"), 1.0)
    x = x * gate
    off = int(round(offset_s * A.SR))
    out = np.zeros(n_samples)
    if off < n_samples:
        m = min(len(x), n_samples - off)
        out[off:off + m] = x[:m]
    return out, dict(kind="sinsy", package="pysinsy", file="pysinsy/htsvoice/nitech_jp_song070_f001.htsvoice",
                     licence="CC-BY-3.0 (HTS voice, Nitech); Sinsy BSD-3", n_notes=len(syl),
                     lyrics="".join(syl[:40]))


# ------------------------------------------------------------------ espeak-ng
def espeak(text: str, voice: str, pitch: int, speed: int, workdir: str, amp: int = 120) -> np.ndarray:
    path = os.path.join(workdir, "espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amp),
                    "-w", path, text], check=True, capture_output=True)
    x, sr = A.load_any(path)
    return A.resample(A.trim_silence(x), sr, A.SR)


# ------------------------------------------------------------------ placing phrases on the beat
def place_phrases(rng: np.random.Generator, n_samples: int, spans: list[tuple[float, float]],
                  beat_s: float, make_phrase, max_bars_s: float) -> tuple[np.ndarray, list]:
    """Fill the time spans [(t0, t1) seconds] with phrases starting on beats.

    make_phrase(max_len_s) -> (mono array at 44.1k, item dict)."""
    out = np.zeros(n_samples)
    items = []
    for t0, t1 in spans:
        t = t0
        while t < t1 - 1.0:
            x, item = make_phrase(min(max_bars_s, t1 - t))
            if x is None or len(x) < A.SR // 4:
                t += beat_s
                continue
            x = A.fade(x)
            s = int(round(t * A.SR))
            m = min(len(x), n_samples - s, int((t1 - t) * A.SR))
            if m <= 0:
                break
            out[s:s + m] += A.fade(x[:m])
            item = dict(item, start_s=round(t, 3), dur_s=round(m / A.SR, 3))
            items.append(item)
            dur = m / A.SR
            # next phrase starts on a beat after a short gap
            gap_beats = int(rng.choice([0, 1, 1, 2, 2, 4]))
            t += (np.ceil(dur / beat_s) + gap_beats) * beat_s
    return out, items


def choose_speakers(rng: np.random.Generator, speakers: dict) -> list[str]:
    """One (sometimes two) speakers for a song: the corpus is picked first (so packages with many
    speakers do not dominate), then a speaker."""
    names = sorted(speakers)
    corpus = {n: speakers[n][0]["package"].split("-")[0] for n in names}
    weights = {"asterisk": 0.3, "hedgewars": 0.35, "ktuberling": 0.2, "pocketsphinx": 0.1, "warzone2100": 0.05,
               "tuxpaint": 1.0}
    w = np.array([weights.get(corpus[n], 0.1) / sum(1 for m in names if corpus[m] == corpus[n]) for n in names])
    k = 1 if rng.random() < 0.8 else 2
    return [names[int(i)] for i in rng.choice(len(names), size=min(k, len(names)), replace=False, p=w / w.sum())]


def speech_loader():
    """load(item) -> mono 44.1 kHz, silence trimmed (cached per file)."""
    cache = {}

    def load(it):
        if it["file"] not in cache:
            x, sr = A.load_any(it["file"], it["fmt"])
            cache[it["file"]] = A.resample(A.trim_silence(x, -40), sr, A.SR)
        return cache[it["file"]]

    return load


def real_phrase_maker(rng: np.random.Generator, speakers: dict, split: str):
    """Phrases from one (sometimes two) real speakers, like a lead vocalist."""
    chosen = choose_speakers(rng, speakers)
    items = [it for n in chosen for it in speakers[n]]
    load = speech_loader()

    def make(max_len_s: float):
        it = items[int(rng.integers(len(items)))]
        x = load(it)
        extra = []
        # single words / short lines: chain a few from the same speaker into a phrase
        while len(x) < 1.5 * A.SR and rng.random() < 0.7 and len(extra) < 4:
            it2 = items[int(rng.integers(len(items)))]
            gap = np.zeros(int(rng.uniform(0.03, 0.25) * A.SR))
            x = np.concatenate([x, gap, load(it2)])
            extra.append(it2["file"])
        semis = float(rng.uniform(-4, 3))
        x = A.resample_ratio(x, 2 ** (semis / 12))  # pitch+formant+tempo shift ("tape")
        fs = 0.0
        if rng.random() < 0.4:
            fs = float(rng.uniform(-3, 3))
            x = A.formant_shift(x, fs)
        if len(x) > max_len_s * A.SR:
            x = x[: int(max_len_s * A.SR)]
        return x, dict(kind="real_speech", package=it["package"], file=it["file"], licence=it["licence"],
                       speaker=it["speaker"], chained_files=extra, transforms=dict(resample_semitones=round(semis, 2),
                                                              formant_semitones=round(fs, 2)))

    return make


def espeak_phrase_maker(rng: np.random.Generator, cfg: dict, workdir: str, beat_s: float):
    lang = cfg["langs"][int(rng.integers(len(cfg["langs"])))]
    variant = cfg["variants"][int(rng.integers(len(cfg["variants"])))]
    voice = f"{lang}+{variant}"
    base_pitch = int(rng.integers(20, 80))

    def make(max_len_s: float):
        n_words = int(rng.integers(2, 7))
        text = lyrics_line(rng, n_words)
        pitch = int(np.clip(base_pitch + rng.integers(-10, 11), 0, 99))
        speed = int(rng.integers(130, 230))
        x = espeak(text, voice, pitch, speed, workdir)
        if len(x) > max_len_s * A.SR:
            x = x[: int(max_len_s * A.SR)]
        return x, dict(kind="espeak", package="espeak-ng", file=f"{S.ESPEAK_DATA} (voice {voice})",
                       licence="GPL-3+", text=text, transforms=dict(pitch=pitch, speed=speed))

    return make, voice
