"""Cut the test medley (tests/fixtures/medley/) out of EVERY rendered valid song.

    .venv/bin/demix-medley --songs models/.data/songs \
        --out tests/fixtures/medley

The same excerpt length from the centre of each valid song, in song order, with short fades at
the joins, written as four Ogg Vorbis stems (the test builds the mixture as their sum) and a
README with the sources and licences. No song or window is chosen by how any engine does on it:
the rule is fixed (all songs, centred), so the medley stands for the valid split as a whole.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import soundfile as sf

from .demo import STEMS, SR, items_in


def cut(songs_dir, songs, seconds, fade_s=0.05):
    """-> {stem: float64 [N, 2]} and [(song_id, start_s)]."""
    out = {k: [] for k in STEMS}
    where = []
    n = int(seconds * SR)
    f = int(fade_s * SR)
    env = np.ones(n)
    env[:f] = np.linspace(0, 1, f)
    env[-f:] = np.linspace(1, 0, f)
    for s in songs:
        d = os.path.join(songs_dir, s["path"])
        x = {k: sf.read(os.path.join(d, k + ".wav"), dtype="float64", always_2d=True)[0] for k in STEMS}
        length = min(len(v) for v in x.values())
        a = max(0, length // 2 - n // 2)
        for k in STEMS:
            seg = x[k][a:a + n, :2]
            if seg.shape[1] == 1:
                seg = np.repeat(seg, 2, axis=1)
            out[k].append(seg * env[:len(seg), None])
        where.append((s["song_id"], a / SR))
    return {k: np.concatenate(v) for k, v in out.items()}, where


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", default="models/.data/songs")
    ap.add_argument("--out", default="tests/fixtures/medley")
    ap.add_argument("--seconds", type=float, default=2.0, help="excerpt per song")
    ap.add_argument("--quality", type=float, default=0.3, help="Vorbis compression level (0 best .. 1)")
    args = ap.parse_args(argv)
    with open(os.path.join(args.songs, "manifest.json")) as f:
        man = json.load(f)
    songs = [s for s in man["songs"] if s["split"] == "valid"]
    x, where = cut(args.songs, songs, args.seconds)
    peak = np.abs(sum(x[k] for k in STEMS)).max()
    scale = 0.5 / peak  # headroom: the sum of the decoded (lossy) stems must not clip either
    os.makedirs(args.out, exist_ok=True)
    for k in STEMS:
        sf.write(os.path.join(args.out, k + ".ogg"), (x[k] * scale).astype(np.float32), SR,
                 format="OGG", subtype="VORBIS", compression_level=args.quality)
    write_readme(args.out, songs, where, args.seconds, man)
    size = sum(os.path.getsize(os.path.join(args.out, k + ".ogg")) for k in STEMS)
    print(f"{len(songs)} songs x {args.seconds:g} s, {size / 1e6:.2f} MB in {args.out}")


def write_readme(out, songs, where, seconds, man):
    lines = [
        "# Test medley",
        "",
        f"`{{vocals,drums,bass,other}}.ogg`: stereo, 44.1 kHz Ogg Vorbis, {len(songs) * seconds:g} s —",
        f"{seconds:g} s from the centre of each of the {len(songs)} songs of the **valid** split, in order,",
        "with 50 ms fades at the joins. Rendered by",
        f"`demix_data.render --seed {man['seed']}` (generator version {man['gen_version']}); the valid split",
        "uses a SoundFont, MIDI material and voices that the train split never uses.",
        "The test builds the mixture as the sum of the decoded stems, so the references are exact.",
        "Re-create with",
        "`.venv/bin/demix-medley --songs models/.data/songs`.",
        "",
        "## What is in it",
        "",
        "| excerpt | song | start (s) | stem | item | package | file | licence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for j, (s, (sid, t0)) in enumerate(zip(songs, where)):
        lines += [f"| {j} | {sid} | {t0:.1f} | {k} | {row} |" for k, row in items_in(s, t0, t0 + seconds)]
    lines += ["", "## Licences", "",
              "The medley is a derivative of the items above; redistribution follows the most restrictive",
              "of them (GPL-compatible share-alike: GPL-2+/GPL-3+ material and CC-BY(-SA)-3.0 voices —",
              "attribution: see the table).", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
