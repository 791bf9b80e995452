"""Sampled drum kits (Debian `hydrogen-drumkits`): a song's General MIDI drum notes played with
recorded drum samples instead of a SoundFont.

A kit is Hydrogen's ``drumkit.xml``: instruments with a name, a volume, a gain, left/right pan
gains and velocity layers (one sample file per velocity range). A GM drum note is played by
the kit instrument whose name says what it is (``KINDS``); a note with no such instrument in the
kit (a cowbell in a kit without one) is left out. An open hi-hat stops when the closed or pedal
hi-hat plays, as on a real hi-hat.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache

import mido
import numpy as np
import soundfile as sf

from . import audio as A
from . import sources as S

KIT_DIR, KITS = S.HYDROGEN_DIR, S.HYDROGEN_KITS

# GM drum note -> what plays it, then what may stand in for it
GM_NOTES = {
    35: ("kick",), 36: ("kick",), 37: ("stick", "snare"), 38: ("snare",), 40: ("snare",),
    39: ("clap", "snare"), 42: ("hh_closed",), 44: ("hh_pedal", "hh_closed"),
    46: ("hh_open", "hh_closed"), 41: ("tom_low", "tom"), 43: ("tom_low", "tom"),
    45: ("tom_mid", "tom"), 47: ("tom_mid", "tom"), 48: ("tom_high", "tom"), 50: ("tom_high", "tom"),
    49: ("crash",), 57: ("crash",), 55: ("splash", "crash"), 52: ("china", "crash"),
    51: ("ride",), 59: ("ride",), 53: ("ride_bell", "ride"), 56: ("cowbell",), 54: ("tambourine",),
}
# an instrument's kinds from its name (lower case), first match wins
KINDS = [
    (r"kick|bass ?drum|\bbd\b|\bkik", ("kick",)),
    (r"rim ?shot", ("snare",)),
    (r"stick|rim", ("stick",)),
    (r"snare|\bsd\b|\bsn\b", ("snare",)),
    (r"clap", ("clap",)),
    (r"(hh|hat).*(open|\bop\b)|open.*(hh|hat)|\bohh?\b", ("hh_open",)),
    (r"(hh|hat).*(pedal|foot|\bpd\b)|(pedal|foot).*(hh|hat)", ("hh_pedal",)),
    (r"hh|hat|\bchh?\b", ("hh_closed",)),
    # "(?<![a-z])tom": not the "tom" in "custom"
    (r"(?<![a-z])tom.*(lo|floor)|(lo|floor).*(?<![a-z])tom", ("tom_low", "tom")),
    (r"(?<![a-z])tom.*(mid|med)|(mid|med).*(?<![a-z])tom", ("tom_mid", "tom")),
    (r"(?<![a-z])tom.*hi|hi.*(?<![a-z])tom", ("tom_high", "tom")),
    (r"(?<![a-z])tom", ("tom",)),
    (r"ride.*(bell|cup)|bell.*ride", ("ride_bell",)),
    (r"ride", ("ride",)),
    (r"crash", ("crash",)),
    (r"splash", ("splash",)),
    (r"china", ("china",)),
    (r"cowbell", ("cowbell",)),
    (r"tamb", ("tambourine",)),
]
HH_CHOKE_MS = 30.0


@dataclass
class Instrument:
    name: str
    kinds: tuple
    gain: float  # volume x gain
    pan: tuple  # left, right
    layers: list  # (min velocity 0..1, max, gain, path)


def kinds_of(name: str) -> tuple:
    low = name.lower()
    for pattern, kinds in KINDS:
        if re.search(pattern, low):
            return kinds
    return ()


def _num(el, tag: str, default: float) -> float:
    v = el.findtext(tag)
    try:
        return float(v) if v not in (None, "") else default
    except ValueError:
        return default


@lru_cache(None)
def load_kit(name: str) -> list[Instrument]:
    """The instruments of a kit (an installed kit's name, or a folder holding a drumkit.xml)
    that play some GM drum note, with their usable layers."""
    folder = os.path.join(KIT_DIR, name)  # an absolute `name` stays as it is
    root = ET.parse(os.path.join(folder, "drumkit.xml")).getroot()
    # drumkit.xml may declare a default namespace: match tags by their local name
    for el in root.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    out = []
    for ins in root.iter("instrument"):
        iname = ins.findtext("name") or ""
        kinds = kinds_of(iname)
        if not kinds or (ins.findtext("isMuted") or "").strip() == "true":
            continue
        layers = []
        # older kits give one <filename> on the instrument, newer ones <layer>s (sometimes
        # inside <instrumentComponent>)
        for lay in ins.iter("layer"):
            f = lay.findtext("filename")
            if f and os.path.exists(os.path.join(folder, f)):
                layers.append((_num(lay, "min", 0), _num(lay, "max", 1), _num(lay, "gain", 1), os.path.join(folder, f)))
        if not layers and ins.findtext("filename"):
            f = os.path.join(folder, ins.findtext("filename"))
            if os.path.exists(f):
                layers.append((0.0, 1.0, 1.0, f))
        if layers:
            out.append(Instrument(iname, kinds, _num(ins, "volume", 1) * _num(ins, "gain", 1),
                                  (_num(ins, "pan_L", 1), _num(ins, "pan_R", 1)), sorted(layers)))
    return out


def installed_kits() -> list[str]:
    return [k for k in KITS if os.path.exists(os.path.join(KIT_DIR, k, "drumkit.xml"))]


@lru_cache(512)
def _sample(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return A.resample(A.to_stereo(x)[:, :2], sr, A.SR)


def pick(kit: list[Instrument], note: int, rng: np.random.Generator) -> Instrument | None:
    """The instrument that plays GM drum `note` (one of several that fit, at random)."""
    for kind in GM_NOTES.get(note, ()):
        fits = [ins for ins in kit if ins.kinds[0] == kind] or [ins for ins in kit if kind in ins.kinds]
        if fits:
            return fits[int(rng.integers(len(fits)))]
    return None


def drum_notes(mid: mido.MidiFile) -> list[tuple[float, int, int]]:
    """(time in s, GM note, velocity) of every note on MIDI channel 10."""
    out, t = [], 0.0
    for msg in mid:  # merged tracks, delta times in seconds (tempo map applied)
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel == 9:
            out.append((t, msg.note, msg.velocity))
    return out


def render(notes: list[tuple[float, int, int]], kit_name: str, n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Stereo [n, 2] of `notes` played on the kit, and what was played (for the manifest)."""
    kit = load_kit(kit_name)
    out = np.zeros((n, 2))
    # per note: the instrument for this song (one choice per GM note) and the voice it starts
    chosen: dict[int, Instrument | None] = {}
    voices = []
    for t, note, vel in notes:
        if note not in chosen:
            chosen[note] = pick(kit, note, rng)
        ins = chosen[note]
        s = int(round(t * A.SR))
        if ins is None or s >= n:
            continue
        v = vel / 127.0
        lay = next((l for l in ins.layers if l[0] <= v <= l[1]), None) or \
            min(ins.layers, key=lambda l: min(abs(v - l[0]), abs(v - l[1])))
        voices.append((s, ins, lay, v))
    chokes = np.array(sorted(s for s, ins, _l, _v in voices if ins.kinds[0] in ("hh_closed", "hh_pedal")))
    fade = int(HH_CHOKE_MS * 1e-3 * A.SR)
    for s, ins, (_lo, _hi, lgain, path), v in voices:
        x = _sample(path)[: n - s] * (v * ins.gain * lgain)
        x = x * np.asarray(ins.pan)[None, :]
        if ins.kinds[0] == "hh_open" and len(chokes):
            nxt = chokes[np.searchsorted(chokes, s, side="right"):]
            if len(nxt) and nxt[0] - s < len(x):
                e = int(nxt[0] - s)
                x = x[: e + fade].copy()
                x[e:] *= np.linspace(1.0, 0.0, len(x) - e)[:, None]
        out[s:s + len(x)] += x
    played = sorted({(note, ins.name) for note, ins in chosen.items() if ins is not None})
    missing = sorted(note for note, ins in chosen.items() if ins is None)
    return out, dict(kind="sampled_kit", package="hydrogen-drumkits", kit=kit_name,
                     file=os.path.join(KIT_DIR, kit_name), licence=KITS.get(kit_name, "not a packaged kit"),
                     notes=[f"{a}:{b}" for a, b in played], notes_left_out=missing)
