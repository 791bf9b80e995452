"""Re-band a trained checkpoint: a new band layout (e.g. narrow bands where voices and bass live)
started from an old model's weights instead of from scratch.

Everything that is shared over bands (the SSM layers, the norms) is copied. Per-band weights are
mapped bin by bin: a new band's input rows and head columns for bin k are the old weights for bin
k in the old band that held it, so at the start each new band predicts its bins' masks the way the
old band did. The band mixer's per-band rows and columns come from the old band holding the new
band's centre bin (its inputs are shared among the new bands that map to the same old band); extra
hidden units start with zero output weights. The result is a starting point for fine-tuning, not an
equivalent model: a narrow band sees fewer bins than the old band did.
"""
import argparse
import math
import os

import torch

from .config import BINS, ModelConfig
from .model import DemixNet


def _band_of_bins(cfg: ModelConfig):
    """-> (band index, offset in band) for every bin 0..BINS-1, and each band's (first bin, width)."""
    where, bands, k0, b = [], [], 0, 0
    for n, w in cfg.groups:
        for _ in range(n):
            bands.append((k0, w))
            where += [(b, i) for i in range(w)]
            k0, b = k0 + w, b + 1
    return where[:BINS], bands


def _group_of_band(cfg: ModelConfig):
    """-> (group index, index within the group) for every band."""
    out = []
    for g, (n, _) in enumerate(cfg.groups):
        out += [(g, j) for j in range(n)]
    return out


@torch.no_grad()
def reband(old: DemixNet, new_cfg: ModelConfig) -> DemixNet:
    oc = old.cfg
    assert (oc.dim, oc.layers, oc.expand, oc.heads, oc.d_state, oc.stems) == \
        (new_cfg.dim, new_cfg.layers, new_cfg.expand, new_cfg.heads, new_cfg.d_state, new_cfg.stems)
    net = DemixNet(new_cfg)
    net.ssm.load_state_dict(old.ssm.state_dict())
    net.norm_out.load_state_dict(old.norm_out.state_dict())
    o_where, o_bands = _band_of_bins(oc)
    _, n_bands = _band_of_bins(new_cfg)
    o_grp, n_grp = _group_of_band(oc), _group_of_band(new_cfg)
    D, S = oc.dim, oc.stems
    # old per-band weights as [band][...] views
    o_win = [old.w_in[g][j] for g, j in o_grp]          # [2*w, D]
    o_bin = [old.b_in[g][j] for g, j in o_grp]          # [1, D]
    o_W = [old.w_out[g][j].reshape(D, S, 2, 2, -1) for g, j in o_grp]
    o_b = [old.b_out[g][j].reshape(1, S, 2, 2, -1) for g, j in o_grp]
    centre_old = []
    for (k0, w), (g, j) in zip(n_bands, n_grp):
        centre = min(k0 + w // 2, BINS - 1)
        ob = o_where[centre][0]
        centre_old.append(ob)
        win = net.w_in[g][j]  # [2*w, D]
        win.zero_()
        W = net.w_out[g][j].reshape(D, S, 2, 2, w)
        b = net.b_out[g][j].reshape(1, S, 2, 2, w)
        W.zero_()
        b.zero_()
        for i in range(w):
            k = k0 + i
            if k >= BINS:
                break
            src, off = o_where[k]
            sw = o_bands[src][1]
            for c in range(2):
                win[c * w + i] = o_win[src][c * sw + off]
            W[..., i] = o_W[src][..., off]
            b[..., i] = o_b[src][..., off]
        net.b_in[g][j].copy_(o_bin[ob])
    # band mixers: map per-band rows/columns through the centre mapping
    counts = torch.bincount(torch.tensor(centre_old), minlength=oc.n_bands).clamp_min(1).float()
    for om, nm in zip(old.mix, net.mix):
        nm.norm.load_state_dict(om.norm.state_dict())
        h = min(oc.band_hidden, new_cfg.band_hidden)
        idx = torch.tensor(centre_old)
        nm.fc1.weight[:h] = om.fc1.weight[:h][:, idx] / counts[idx]
        nm.fc1.bias[:h] = om.fc1.bias[:h]
        nm.fc2.weight.zero_()
        nm.fc2.weight[:, :h] = om.fc2.weight[idx][:, :h]
        nm.fc2.bias.copy_(om.fc2.bias[idx])
    return net


def main(argv=None):
    """Command line: write a re-banded checkpoint."""
    from .export import load_net
    from .train import parse_bands
    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--bands", required=True)
    ap.add_argument("--band-hidden", type=int, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    old, st = load_net(a.ckpt)
    oc = old.cfg
    nc = ModelConfig(**dict(oc.to_dict(), band_groups=parse_bands(a.bands),
                            band_hidden=a.band_hidden or oc.band_hidden))
    net = reband(old, nc)
    sd = net.state_dict()
    keep = {k: st[k] for k in ("ledger", "audio_seconds", "manifest_sha256") if k in st}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save(dict(keep, model=sd, ema=sd, model_cfg=nc.to_dict(), reband={"from": a.ckpt, "bands": a.bands}),
               a.out)
    print(f"{a.out}: {nc.n_bands} bands {nc.groups}, band_hidden {nc.band_hidden}")


USAGE = """Re-band a checkpoint (see demix_model/reband.py): a starting point for a model with a new band
layout, with the old model's weights and data ledger.

    .venv/bin/demix-reband models/.runs/soup07/last.pt --bands 12x8,6x24,6x46 --band-hidden 48 --out models/.data/init/reband.pt
"""

if __name__ == "__main__":
    main()
