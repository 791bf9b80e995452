"""Weight average of training checkpoints' EMA weights (a "model soup").

    .venv/bin/demix-average A.pt B.pt --alpha 0.7 --out models/.runs/soup07/last.pt
    .venv/bin/demix-average A.pt B.pt C.pt --out models/.runs/soup-abc/last.pt

With two checkpoints and `--alpha`, writes alpha x B + (1 - alpha) x A; otherwise the plain mean
of all of them. The output keeps the last checkpoint's metadata (model config, manifest hash), so
demix-export and demix-card treat it like any checkpoint. Its data ledger is the union of the
inputs': an entry that two inputs hold with different figures (siblings fine-tuned from one start
on different renders of the same names) is kept once per input, under that run's name, so no
training material goes unrecorded; an input that was another's `--init` adds nothing, as the
other's ledger already holds its own. A checkpoint may lack the others' stereo-feature weights (it
was their `--init`): they count as zero. Needs torch.
"""
import argparse
import os

from .config import ModelConfig


def weights(st, cfg=None):
    """A checkpoint's EMA (else model) weights, with the key names of the current DemixNet
    (older checkpoints name the single band group's tensors `w_in`, not `w_in.0`), loaded into
    `cfg` (default: its own): a checkpoint without stereo features gets zero stereo weights, the
    function it computes."""
    from .model import DemixNet

    net = DemixNet(cfg or ModelConfig(**st["model_cfg"]))
    net.load_state_dict(st.get("ema") or st["model"])
    return net.state_dict()


def run_name(st, path):
    """The name a checkpoint's own ledger entries are kept under when they clash."""
    return (st.get("args") or {}).get("name") or os.path.splitext(os.path.basename(path))[0]


def held_under_prefix(led, other):
    """Whether `other` holds all of `led` under one prefix (`led` is the ledger of `other`'s
    `--init`, which demix-train files under `v<N>/`)."""
    if not led:
        return True
    k0 = next(iter(led))
    for key in other:
        if key.endswith("/" + k0):
            pre = key[:-len(k0)]
            if all(other.get(pre + k) == v for k, v in led.items()):
                return True
    return False


def merge_ledgers(named):
    """[(name, ledger)] -> one ledger. An input whose ledger another input already holds (its
    start) adds nothing; entries equal in every input that holds them stay as they are; an entry
    that differs between inputs is kept as `name/key` for each input."""
    named = [(n, led) for i, (n, led) in enumerate(named)
             if not any(j != i and held_under_prefix(led, o) for j, (_, o) in enumerate(named))]
    out, clash = {}, set()
    for _, led in named:
        for k, v in led.items():
            if k in out and out[k] != v:
                clash.add(k)
            out.setdefault(k, v)
    for k in clash:
        del out[k]
        for name, led in named:
            if k in led:
                out[f"{name}/{k}"] = led[k]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpts", nargs="+", metavar="CKPT")
    ap.add_argument("--alpha", type=float, default=None, help="with two checkpoints: weight of the second (0..1)")
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
    ledger = merge_ledgers([(run_name(st, p), st.get("ledger", {})) for p, st in zip(args.ckpts, cks)])
    soup = {"ckpts": list(args.ckpts), "weights": share}
    out = dict(last, model=avg, ema=avg, opt=None, ledger=ledger, soup=soup)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f"{args.out}: " + " + ".join(f"{s:g} x {p}" for s, p in zip(share, args.ckpts)))


if __name__ == "__main__":
    main()
