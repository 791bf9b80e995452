"""Cut the demo clip (demo/) out of a rendered VALID song.

    .venv/bin/demix-demo-clip --songs models/.data/songs --out demo

Picks the valid song and 15 s window with the most clearly audible voice, writes
16-bit FLAC stems and a mixture that is exactly their integer sum, and a README
with the sources and licences of everything in it.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import soundfile as sf

STEMS = ("vocals", "drums", "bass", "other")
SR = 44100


def frame_db(x, hop=SR // 10):
    m = x.mean(axis=1)
    n = len(m) // hop
    e = np.sqrt(np.mean(m[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    return 20 * np.log10(e)


def pick(songs_dir, man, seconds):
    best = None
    for s in man["songs"]:
        if s["split"] != "valid":
            continue
        kinds = set(s["vocal_kinds"])
        d = os.path.join(songs_dir, s["path"])
        x = {k: sf.read(os.path.join(d, k + ".wav"), dtype="float64")[0] for k in STEMS}
        if len(x["vocals"]) < seconds * SR:
            continue
        v = frame_db(x["vocals"])
        acc = frame_db(x["drums"] + x["bass"] + x["other"])
        w = int(seconds * 10)
        # voice clearly audible: within 10 dB of the accompaniment, frame by frame
        good = ((v > acc - 10) & (v > -45)).astype(float)
        # real voices and singing preferred over TTS for the demo
        bonus = 0.1 * ("real" in kinds) + 0.1 * ("sinsy" in kinds) + 0.05 * (len(kinds) > 1)
        both = np.array([good[i:i + w].mean() for i in range(0, len(good) - w + 1, 5)])
        i = int(np.argmax(both))
        score = both[i] + bonus
        for k in ("drums", "bass", "other"):
            if frame_db(x[k])[i * 5:i * 5 + w].max() < -50:
                score -= 0.2
        if best is None or score > best[0]:
            best = (score, s, i * 5 / 10.0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", default="models/.data/songs")
    ap.add_argument("--out", default="demo")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--max-mb", type=float, default=2.9)
    args = ap.parse_args(argv)
    with open(os.path.join(args.songs, "manifest.json")) as f:
        man = json.load(f)
    score, s, t0 = pick(args.songs, man, args.seconds)
    d = os.path.join(args.songs, s["path"])
    full = {k: sf.read(os.path.join(d, k + ".wav"), dtype="float64")[0] for k in STEMS}
    os.makedirs(os.path.join(args.out, "stems"), exist_ok=True)
    # quantize the stems first (16-bit; coarser steps / a shorter excerpt only if needed to stay
    # under the size budget); the mixture is their exact integer sum
    seconds = args.seconds
    done = False
    while not done:
        a, n = int(t0 * SR), int(seconds * SR)
        x = {k: full[k][a:a + n] for k in STEMS}
        env = np.ones(n)
        f = int(0.3 * SR)
        env[:f] = np.linspace(0, 1, f)
        env[-f:] = np.linspace(1, 0, f)
        mix = sum(x[k] for k in STEMS) * env[:, None]
        scale = 0.85 * 32767 / np.abs(mix).max()
        for step in (1, 2, 4, 8):
            q = {k: (np.round(x[k] * env[:, None] * scale / step) * step).astype(np.int64) for k in STEMS}
            qm = sum(q[k] for k in STEMS)
            assert np.abs(qm).max() < 32767 and all(np.abs(q[k]).max() < 32767 for k in STEMS)
            for k in STEMS:
                sf.write(os.path.join(args.out, "stems", k + ".flac"), q[k].astype(np.int16), SR,
                         subtype="PCM_16", compression_level=1.0)
            sf.write(os.path.join(args.out, "demo_mix.flac"), qm.astype(np.int16), SR, subtype="PCM_16",
                     compression_level=1.0)
            size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _d, fs in os.walk(args.out) for f in fs)
            if size < args.max_mb * 1024 * 1024 - 20000:
                done = True
                break
        if not done:
            if seconds <= 10:
                raise SystemExit("demo clip does not fit the size budget")
            seconds -= 1
    write_readme(args.out, s, t0, seconds, man, step)
    print(f"{size / 1e6:.2f} MB, {seconds:g} s, quantization step {step} LSB")
    print(f"demo from {s['song_id']} at {t0:.1f} s (score {score:.2f})")


def items_in(song, t0, t1):
    """(stem, "kind | package | `file` | licence") for every source item of a manifest song that
    sounds inside [t0, t1] seconds."""
    for k in STEMS:
        for it in song["stems"][k]["items"]:
            st = it.get("start_s")
            if st is not None and (st > t1 or st + it.get("dur_s", 1e9) < t0):
                continue
            kind = it.get("kind") or ("soundfont" if it.get("soundfont") else "midi/groove")
            yield k, f"{kind} | {it['package']} | `{it['file']}` | {it['licence']}"


def write_readme(out, s, t0, seconds, man, step=1):
    t1 = t0 + seconds
    lines = [
        "# Demo clip",
        "",
        f"`demo_mix.flac` (stereo, 44.1 kHz, 16-bit FLAC, {seconds:g} s) and `stems/{{vocals,drums,bass,other}}.flac`.",
        "The mixture is exactly the integer sum of the four 16-bit stems (checked by `models/tests/test_data.py`).",
        f"To keep the folder small the stems are quantized to steps of {step} LSB"
        f" ({16 - int(np.log2(step))}-bit effective resolution) before the sum." if step > 1 else
        "Stems are plain 16-bit.",
        "",
        f"It is the excerpt {t0:.1f}–{t1:.1f} s of song `{s['song_id']}` of the **valid** split rendered by",
        f"`demix_data.render --seed {man['seed']}` (generator version {man['gen_version']}); the valid split uses a",
        "SoundFont, MIDI material and voices that the train split never uses, so models trained on",
        "`models/.data/songs/train` have not heard it. Re-create with",
        "`.venv/bin/demix-demo-clip --songs models/.data/songs --out demo`.",
        "",
        "## What is in it",
        "",
        f"- source: {s['source']}" + (f", MMA groove `{s.get('groove')}`, {s.get('tempo')} BPM, key {s.get('key')}"
                                       if s["source"] == "mma" else f", segment from {s.get('segment_start_s')} s"),
        f"- voice kinds: {', '.join(s['vocal_kinds'])}",
        "",
        "| stem | item | package | file | licence |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {k} | {row} |" for k, row in items_in(s, t0, t1)]
    lines += ["", "Effects (EQ, compression, reverb, panning, levels) were applied by demix_data; the per-stem",
              "parameters are in `models/.data/songs/manifest.json` under this song id.", "",
              "## Licences", "",
              "The clip is a derivative of the items above; redistribution follows the most restrictive of them",
              "(GPL-compatible share-alike: GPL-2+/GPL-3+ material and CC-BY(-SA)-3.0 voices — attribution:",
              "see the table).", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
