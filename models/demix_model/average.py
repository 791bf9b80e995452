"""Weight average of training checkpoints' EMA weights (a "model soup").

    .venv/bin/demix-average A.pt B.pt --alpha 0.7 --out models/.runs/soup07/last.pt
    .venv/bin/demix-average START.pt RUN1/last.pt RUN2/last.pt --out models/.runs/soup/last.pt

With two checkpoints and `--alpha`, writes alpha x B + (1 - alpha) x A; otherwise the plain mean
of all of them. The output keeps the last checkpoint's metadata (model config, manifest hash), so
demix-export and demix-card treat it like any checkpoint. A checkpoint may lack the others' stereo
weights (it was their `--init`): they count as zero. Needs torch.

The output's data ledger is every input's training (`merge_ledgers`): the history the inputs
share (`vN/...` entries) once, and each run's own entries summed, song by song. When runs read
record-like examples from different renders, their `records` entries are renamed
`records-g<generator version>` (`record_tags`), the section names a release manifest then needs.
Its audio seen is the common start's plus what each run added.
"""
import argparse
import copy
import json
import os
import re

from .config import ModelConfig

HISTORY = re.compile(r"^v\d+/")  # an entry inherited from a released start (demix-train --init)


def weights(st, cfg=None):
    """A checkpoint's EMA (else model) weights, with the key names of the current DemixNet
    (older checkpoints name the single band group's tensors `w_in`, not `w_in.0`), loaded into
    `cfg` (default: its own): a checkpoint without stereo features gets zero stereo weights, the
    function it computes."""
    from .model import DemixNet

    net = DemixNet(cfg or ModelConfig(**st["model_cfg"]))
    net.load_state_dict(st.get("ema") or st["model"])
    return net.state_dict()


def held_under_prefix(led, other):
    """Whether `other` holds all of `led`, as it is or under one prefix (`led` is the ledger of
    `other`'s `--init`, which demix-train keeps under `--init-ledger-prefix`)."""
    if not led or all(other.get(k) == v for k, v in led.items()):
        return True
    k0 = next(iter(led))
    for key in other:
        if key.endswith("/" + k0):
            pre = key[:-len(k0)]
            if all(other.get(pre + k) == v for k, v in led.items()):
                return True
    return False


def runs_among(ledgers):
    """Indices of the inputs that are not another input's start (whose ledger another holds)."""
    return [i for i, led in enumerate(ledgers)
            if not any(j != i and held_under_prefix(led, o) for j, o in enumerate(ledgers))]


def merge_ledgers(ledgers):
    """[ledger] -> one ledger. An input whose ledger another input already holds (its start) adds
    nothing. Inherited entries (`vN/...`) must agree wherever they appear and are kept once; a
    run's own entries are summed over the runs (seconds and per-stem seconds), as the soup has
    learnt from all of them. Raises ValueError where two inputs give one name different licences
    (two different renders under one name: rename first, `record_tags`)."""
    out = {}
    for led in (ledgers[i] for i in runs_among(ledgers)):
        for k, v in led.items():
            if k not in out:
                out[k] = copy.deepcopy(v)
            elif HISTORY.match(k):
                if out[k] != v:
                    raise ValueError(f"inherited ledger entry {k} differs between inputs")
            elif sorted(out[k].get("licences") or []) != sorted(v.get("licences") or []):
                raise ValueError(f"ledger entry {k}: licences differ between inputs (different material?)")
            else:
                out[k]["seconds"] += v["seconds"]
                ps = out[k].setdefault("per_stem", {})
                for s, x in (v.get("per_stem") or {}).items():
                    ps[s] = ps.get(s, 0.0) + x
    return out


def records_render(args, root):
    """(generator version, manifest bytes) of the record-like render a run read, or None."""
    path = (args or {}).get("records")
    if not path:
        return None
    man = os.path.join(path if os.path.isabs(path) else os.path.join(root, path), "manifest-train.json")
    if not os.path.isfile(man):
        raise SystemExit(f"{man}: missing; it says which render the run's `records` entries are")
    with open(man, "rb") as f:
        raw = f.read()
    return json.loads(raw)["generator_version"], raw


def record_tags(ledger, render, rename):
    """A run's own `records:` entries renamed `records-g<N>:` (N: its render's generator version)
    when `rename`; other entries as they are."""
    if not rename or render is None:
        return ledger
    tag = f"records-g{render[0]}:"
    return {tag + k[len("records:"):] if k.startswith("records:") else k: v for k, v in ledger.items()}


def audio_seen(cks, root, paths=()):
    """Mixture seconds the soup learnt from: the common start's plus what each run added after it.
    An input that is another's start counts only through that run. `paths`: the files `cks` were
    read from, so that a start among the inputs is not read again."""
    import torch

    runs = [cks[i] for i in runs_among([st.get("ledger", {}) for st in cks])]
    if len(runs) == 1:
        return runs[0].get("audio_seconds", 0.0)
    starts = {(st.get("args") or {}).get("init") for st in runs}
    if len(starts) != 1 or None in starts:
        raise SystemExit(f"the runs do not share one --init ({sorted(map(str, starts))}): their audio seen cannot be added up")
    init = next(iter(starts))
    path = init if os.path.isabs(init) else os.path.join(root, init)
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: the runs' common start is missing; its audio seen is the soup's base")
    loaded = {os.path.realpath(p): st for p, st in zip(paths, cks)}
    start = loaded.get(os.path.realpath(path)) or torch.load(path, map_location="cpu", weights_only=False)
    base = start.get("audio_seconds", 0.0)
    return base + sum(st.get("audio_seconds", 0.0) - base for st in runs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpts", nargs="+", metavar="CKPT")
    ap.add_argument("--alpha", type=float, default=None, help="with two checkpoints: weight of the second (0..1)")
    ap.add_argument("--root", default=os.getcwd(), help="where the runs' relative data paths start (default: here)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import torch

    if len(args.ckpts) < 2:
        ap.error("give at least two checkpoints")
    if args.alpha is not None and len(args.ckpts) != 2:
        ap.error("--alpha needs exactly two checkpoints")
    cks = [torch.load(p, map_location="cpu", weights_only=False) for p in args.ckpts]
    last = cks[-1]
    cfg = ModelConfig(**last["model_cfg"])
    cl = cfg.to_dict()
    for p, st in zip(args.ckpts, cks):
        c = ModelConfig(**st["model_cfg"]).to_dict()
        if dict(c, stereo_features=cl["stereo_features"]) != cl or (c["stereo_features"] and not cl["stereo_features"]):
            raise SystemExit(f"different model configs: {p}: {c} vs {args.ckpts[-1]}: {cl}")
    share = [1 - args.alpha, args.alpha] if args.alpha is not None else [1 / len(cks)] * len(cks)
    ws = [weights(st, cfg) for st in cks]
    avg = {k: sum(s * w[k] for s, w in zip(share, ws)) if ws[-1][k].is_floating_point() else ws[-1][k]
           for k in ws[-1]}

    renders = [records_render(st.get("args"), args.root) for st in cks]
    distinct = {r[1] for r in renders if r is not None}
    if len({r[0] for r in renders if r is not None}) < len(distinct):
        raise SystemExit("runs read different record-like renders of one generator version: their ledgers cannot be told apart")
    ledgers = [record_tags(st.get("ledger", {}), r, len(distinct) > 1) for st, r in zip(cks, renders)]
    try:
        ledger = merge_ledgers(ledgers)
    except ValueError as e:
        raise SystemExit(str(e))

    audio = audio_seen(cks, args.root, args.ckpts)
    soup = {"ckpts": list(args.ckpts), "weights": share}
    out = dict(last, model=avg, ema=avg, opt=None, ledger=ledger, audio_seconds=audio, soup=soup)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f"{args.out}: " + " + ".join(f"{s:g} x {p}" for s, p in zip(share, args.ckpts)))
    print(f"ledger: {len(ledger)} entries; audio seen {audio / 3600:.1f} h")


if __name__ == "__main__":
    main()
