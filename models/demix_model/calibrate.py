"""Mask shrinkage calibration: choose a in M' = a*M + (1-a)/S (masks pulled toward an even split)
on *train* songs, and write a checkpoint with ``mask_shrink`` set in its model config.

Because the ISTFT is linear, the stems with shrink a are a*est + (1-a)*mix/S, so one pass per song
scores every a on the grid. The choice is made on training songs only (every ``--every``-th), never
on the validation split it is later scored on.

    .venv/bin/demix-calibrate models/.runs/rb24/last.pt --out models/.runs/rb24/calibrated.pt

With ``--records DIR`` it chooses on record-like *train* examples instead, scored in two parts
(vocals, and the accompaniment = mixture - vocals), as the development set is; ``--grid-max``
above 1 also tries undoing part of a shrinkage already folded into the weights (a checkpoint
from ``demix-from-onnx``).
"""
import argparse
import os

import numpy as np
import torch

from .config import SAMPLE_RATE, STEMS, RECORD_STEMS
from .data import list_tracks, read_wav, _find
from .evaluate import sdr
from .export import load_net
from .train import separate, MODELS_DIR

GRID = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # 1.0 ... 0.5


def grid(a_max=1.0):
    """GRID with the steps above 1.0 up to `a_max` added, highest first."""
    up = tuple(round(1.0 + 0.05 * i, 2) for i in range(int(round((a_max - 1.0) / 0.05)), 0, -1))
    return up + GRID


@torch.no_grad()
def shrink_scores(net, tracks, grid=GRID, max_seconds=None):
    """-> {a: {stem: median MDX SDR over tracks}} for the un-shrunk net's masks shrunk by each a."""
    per = {a: {s: [] for s in STEMS} for a in grid}
    for tr in tracks:
        stems = np.stack([read_wav(_find(tr, s)) for s in STEMS]).astype(np.float32)
        if max_seconds:
            stems = stems[..., :int(max_seconds * SAMPLE_RATE)]
        est = separate(net, torch.from_numpy(stems)[None])[0].double().numpy()
        ref = stems.astype(np.float64)
        mix = ref.sum(0)
        for a in grid:
            e = a * est + (1 - a) * mix[None] / len(STEMS)
            for k, s in enumerate(STEMS):
                if np.sum(ref[k] ** 2) >= 1e-6:  # silent reference: SDR undefined
                    per[a][s].append(sdr(ref[k], e[k]))
    return _medians(per)


def _medians(per):
    """{a: {part: [SDR per track]}} -> {a: {part: median, NaN when no track has the part}}"""
    return {a: {s: float(np.median(v)) if v else float("nan") for s, v in d.items()} for a, d in per.items()}


@torch.no_grad()
def shrink_scores_records(net, tracks, grid=GRID, max_seconds=None):
    """The same on record-like examples, two parts: {a: {vocals, accompaniment: median MDX SDR}}.
    Shrinking moves the vocal estimate toward mixture / S; the accompaniment is the rest."""
    per = {a: {s: [] for s in RECORD_STEMS} for a in grid}
    for tr in tracks:
        parts = np.stack([read_wav(_find(tr, s)) for s in RECORD_STEMS]).astype(np.float32)
        if max_seconds:
            parts = parts[..., :int(max_seconds * SAMPLE_RATE)]
        # separate() hears only the parts' sum, the mixture; its first stem is the vocals
        voc = separate(net, torch.from_numpy(parts)[None])[0, 0].double().numpy()
        ref = parts.astype(np.float64)
        mix = ref.sum(0)
        for a in grid:
            v = a * voc + (1 - a) * mix / len(STEMS)
            for k, e in enumerate((v, mix - v)):
                if np.sum(ref[k] ** 2) >= 1e-6:
                    per[a][RECORD_STEMS[k]].append(sdr(ref[k], e))
    return _medians(per)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--songs", default=os.path.join(MODELS_DIR, ".data", "songs"))
    ap.add_argument("--records", default=None, help="choose on these record-like examples' train split instead")
    ap.add_argument("--every", type=int, default=19, help="use every N-th train song (example)")
    ap.add_argument("--grid-max", type=float, default=1.0, help="largest a tried (above 1: sharper masks)")
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    net, st = load_net(a.ckpt)
    net.cfg.mask_shrink = 1.0  # score the raw masks; the grid's a is the whole shrinkage
    net.eval()
    g = grid(a.grid_max)
    if a.records:
        tracks = list_tracks(a.records, "train", stems=RECORD_STEMS)[::a.every]
        names, kind = RECORD_STEMS, "record-like train examples"
        score = shrink_scores_records
    else:
        tracks = list_tracks(a.songs, "train")[::a.every]
        names, kind = STEMS, "train songs"
        score = shrink_scores
    if not tracks:
        raise SystemExit(f"no {kind} under {a.records or a.songs}")
    scores = score(net, tracks, grid=g, max_seconds=a.max_seconds)
    means = {k: float(np.mean(list(v.values()))) for k, v in scores.items()}
    for k in g:
        print(f"a={k:.2f}: " + " ".join(f"{s} {scores[k][s]:.2f}" for s in names) + f"  mean {means[k]:.3f}")
    best = max(g, key=lambda k: means[k])
    print(f"chosen a = {best} on {len(tracks)} {kind} (mean {means[best]:.3f} vs {means[1.0]:.3f} at a = 1)")
    out = dict(st, model_cfg=dict(st["model_cfg"], mask_shrink=best),
               calibration={"split": "train", "set": "records" if a.records else "songs", "every": a.every,
                            "tracks": [os.path.basename(t) for t in tracks], "grid_mean_sdr": means,
                            "mask_shrink": best})
    torch.save(out, a.out)
    print(f"wrote {a.out}")
    # returns None: a console script's sys.exit(value) would turn a float into exit status 1


if __name__ == "__main__":
    main()
