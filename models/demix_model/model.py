"""MSNet-lite: band-split + dual-path (causal Mamba-2-style SSM over time, token-mixing MLP
across bands) + per-stem complex ratio masks projected to sum to 1+0j.

Two code paths share every weight:
  * ``forward(spec)``          full sequence [B, T, 2, 2, bins] (training; chunked SSD form)
  * ``step(spec, *states)``    one frame [2, 2, bins] with explicit recurrent state (export)
Both use the same front end, band mixer and (projected) head; only the temporal scan differs.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig, BINS


def _band_matmul(x, w):
    """x [..., nb, 1, I] @ w [nb, I, O] -> [..., nb, 1, O]. With no leading dims (the exported
    step) this is one batched MatMul; with leading dims an einsum avoids broadcasting w."""
    if x.dim() == 3:
        return torch.matmul(x, w)
    return torch.einsum("...bxi,bio->...bxo", x, w)


class TimeSSM(nn.Module):
    """Mamba-2-style selective SSM (scalar decay per head), causal, no conv.

    h_t = exp(dt_t * A) h_{t-1} + dt_t x_t B_t^T ;  y_t = h_t C_t + D x_t ;  out = W_o (y * silu(z))
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, E, H, N = cfg.dim, cfg.inner, cfg.heads, cfg.d_state
        self.cfg = cfg
        self.norm = nn.LayerNorm(D)
        self.in_proj = nn.Linear(D, 2 * E + H + 2 * N, bias=False)
        self.out_proj = nn.Linear(E, D, bias=False)
        # Mamba-2 style init: A in [1, 16], dt in [1e-3, 1e-1] (log-uniform)
        self.A_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, H)))
        dt = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.Dskip = nn.Parameter(torch.ones(E))
        nn.init.normal_(self.out_proj.weight, std=0.02 / math.sqrt(2 * cfg.layers))

    def _proj(self, x):
        cfg = self.cfg
        E, H, N = cfg.inner, cfg.heads, cfg.d_state
        u = self.norm(x)
        p = self.in_proj(u)
        z, xs, dtr, Bm, Cm = torch.split(p, [E, E, H, N, N], dim=-1)
        xs = F.silu(xs)
        dt = F.softplus(dtr + self.dt_bias)
        la = dt * (-torch.exp(self.A_log))  # log decay (<= 0)
        return z, xs, dt, la, Bm, Cm

    def _out(self, x, y, xs, z):
        y = y + self.Dskip * xs
        y = y * F.silu(z)
        return x + self.out_proj(y)

    def forward(self, x, h0=None, chunk: int = 64):
        """x [n, T, D] -> ([n, T, D], h_T [n, H, P, N])"""
        cfg = self.cfg
        H, P, N = cfg.heads, cfg.head_dim, cfg.d_state
        n, T, _ = x.shape
        z, xs, dt, la, Bm, Cm = self._proj(x)
        xh = xs.reshape(n, T, H, P)
        L = min(chunk, T)
        C = (T + L - 1) // L
        pad = C * L - T
        if pad:
            padt = lambda a: F.pad(a, (0,) * (2 * (a.dim() - 2)) + (0, pad))
            xh_, dt_, la_, B_, C_ = padt(xh), padt(dt), padt(la), padt(Bm), padt(Cm)
        else:
            xh_, dt_, la_, B_, C_ = xh, dt, la, Bm, Cm
        xh_ = xh_.reshape(n, C, L, H, P)
        dt_ = dt_.reshape(n, C, L, H)
        la_ = la_.reshape(n, C, L, H)
        B_ = B_.reshape(n, C, L, N)
        C_ = C_.reshape(n, C, L, N)
        cum = torch.cumsum(la_, dim=2)  # [n, C, L, H]
        # intra-chunk part, head-major so that the [L x L] decay blocks are one batched matmul
        # with no copy of the largest tensor: W[t, s] = exp(cum_t - cum_s) (C_t . B_s) for s <= t
        cum_h = cum.permute(0, 1, 3, 2)  # [n, C, H, L]
        seg = cum_h[..., :, None] - cum_h[..., None, :]  # [n, C, H, t, s]
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        seg = seg.masked_fill(~causal, float("-inf"))
        CB = torch.matmul(C_, B_.transpose(-1, -2))  # [n, C, t, s]
        W = torch.exp(seg) * CB[:, :, None]  # [n, C, H, t, s]
        xd = (xh_ * dt_[..., None]).permute(0, 1, 3, 2, 4)  # dt_s x_s: [n, C, H, s, P]
        y = torch.matmul(W, xd).permute(0, 1, 3, 2, 4)  # [n, C, T, H, P]
        # per-chunk input contributions to the state at the chunk's end
        dec_end = torch.exp(cum[:, :, -1:, :] - cum)  # [n, C, L, H]
        Sc = torch.einsum("bclh,bclhp,bclk->bchpk", dec_end * dt_, xh_, B_)
        h = h0 if h0 is not None else x.new_zeros(n, H, P, N)
        outs = []
        ecum = torch.exp(cum)
        chunk_dec = ecum[:, :, -1, :]  # [n, C, H]
        for c in range(C):
            yi = torch.einsum("blk,bhpk->blhp", C_[:, c], h) * ecum[:, c, :, :, None]
            outs.append(yi)
            h = h * chunk_dec[:, c, :, None, None] + Sc[:, c]
        y = y + torch.stack(outs, dim=1)
        y = y.reshape(n, C * L, H * P)[:, :T]
        return self._out(x, y, xs, z), h

    def step(self, x, h):
        """x [bands, D], h [bands, H, P, N] -> (x', h')"""
        cfg = self.cfg
        H, P, N = cfg.heads, cfg.head_dim, cfg.d_state
        nb = x.shape[0]
        z, xs, dt, la, Bm, Cm = self._proj(x)
        dA = torch.exp(la).reshape(nb, H, 1, 1)
        u = (dt.reshape(nb, H, 1) * xs.reshape(nb, H, P)).reshape(nb, H * P, 1)
        # Both products are batched MatMuls over bands without broadcast batch dims: ONNX
        # Runtime's CPU kernels run the broadcasting Mul/MatMul forms of the same products
        # 2-7x slower, and these three state updates are the largest part of a step.
        uB = torch.matmul(u, Bm.reshape(nb, 1, N)).reshape(nb, H, P, N)
        h = h * dA + uB
        y = torch.matmul(h.reshape(nb, H * P, N), Cm.reshape(nb, N, 1)).reshape(nb, H * P)
        return self._out(x, y, xs, z), h


class BandMixer(nn.Module):
    """Token-mixing MLP across bands within one frame (per embedding channel)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)
        self.fc1 = nn.Linear(cfg.n_bands, cfg.band_hidden)
        self.fc2 = nn.Linear(cfg.band_hidden, cfg.n_bands)
        nn.init.normal_(self.fc2.weight, std=0.02)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):  # [..., bands, D]
        u = self.norm(x).transpose(-1, -2)  # [..., D, bands]
        u = self.fc2(F.relu(self.fc1(u)))
        return x + u.transpose(-1, -2)


class DemixNet(nn.Module):
    def __init__(self, cfg: ModelConfig = None):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        D, S = cfg.dim, cfg.stems
        # one (w_in, b_in, w_out, b_out) per band group: bands of one group share a width
        self.w_in = nn.ParameterList([nn.Parameter(torch.randn(n, 2 * w, D) * (0.25 / math.sqrt(2 * w)))
                                      for n, w in cfg.groups])
        self.b_in = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, D)) for n, _ in cfg.groups])
        if cfg.stereo_features:
            # zero at start: a checkpoint trained without these inputs computes the same function
            self.w_sp = nn.ParameterList([nn.Parameter(torch.zeros(n, 2 * w, D)) for n, w in cfg.groups])
        self.ssm = nn.ModuleList([TimeSSM(cfg) for _ in range(cfg.layers)])
        self.mix = nn.ModuleList([BandMixer(cfg) for _ in range(cfg.layers)])
        self.norm_out = nn.LayerNorm(D)
        self.w_out = nn.ParameterList([nn.Parameter(torch.randn(n, D, S * 4 * w) * (0.01 / math.sqrt(D)))
                                       for n, w in cfg.groups])
        self.b_out = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, S * 4 * w)) for n, w in cfg.groups])
        self._register_load_state_dict_pre_hook(_rename_single_group)
        self._register_load_state_dict_pre_hook(self._zero_missing_stereo_weights)

    def _zero_missing_stereo_weights(self, state_dict, prefix, *args):
        """Loading a checkpoint trained without stereo features: their weights start at zero."""
        if self.cfg.stereo_features and not any(k.startswith(prefix + "w_sp.") for k in state_dict):
            for i, w in enumerate(self.w_sp):
                state_dict[f"{prefix}w_sp.{i}"] = torch.zeros_like(w)

    # ------------------------------------------------------------------ shared pieces
    def frontend(self, spec):
        """spec [..., 2(ch), 2(re,im), bins] -> [..., bands, D]. Level-robust: log power,
        minus its mean over channels and bins (a gain on the input changes nothing); with
        cfg.stereo_features also the cross-spectrum 2 L R* / (|L|^2 + |R|^2) (re, im), which
        is in the unit disc and level-free too."""
        cfg = self.cfg
        p = (spec * spec).sum(-2)  # [..., 2, bins]
        f = torch.log(p + cfg.eps)
        f = f - f.mean(dim=(-1, -2), keepdim=True)
        lead = f.shape[:-2]
        x = self._bands(f, self.w_in)
        if cfg.stereo_features:
            lr, li = spec[..., 0, 0, :], spec[..., 0, 1, :]
            rr, ri = spec[..., 1, 0, :], spec[..., 1, 1, :]
            den = 0.5 * (p[..., 0, :] + p[..., 1, :]) + cfg.eps
            c = torch.stack([(lr * rr + li * ri) / den, (li * rr - lr * ri) / den], dim=-2)
            x = [a + b for a, b in zip(x, self._bands(c, self.w_sp))]
        x = [a + b for a, b in zip(x, self.b_in)]
        x = x[0] if len(x) == 1 else torch.cat(x, dim=-3)
        return x.reshape(*lead, cfg.n_bands, cfg.dim)

    def _bands(self, f, weights):
        """f [..., 2, bins] -> one [..., n, 1, D] per band group: each band's bins (both rows of
        f) times that band's weights."""
        cfg = self.cfg
        f = F.pad(f, (0, cfg.padded_bins - f.shape[-1]))
        lead = f.shape[:-2]
        xs, k0 = [], 0
        for (n, w), wg in zip(cfg.groups, weights):
            fg = f if len(cfg.groups) == 1 else f[..., k0:k0 + n * w]
            k0 += n * w
            fg = fg.reshape(*lead, 2, n, w).transpose(-3, -2).reshape(*lead, n, 1, 2 * w)
            xs.append(_band_matmul(fg, wg))
        return xs

    def projected_head(self):
        """Head weights per band group, with the mixture-consistency projection folded in: the
        masks of all stems sum to exactly 1+0j for any input. With cfg.mask_shrink = a the masks
        are a*M + (1-a)/S (pulled toward an even split), still summing to 1+0j.
        -> [(W [n, D, S*4*w], b [n, 1, S*4*w])]"""
        cfg = self.cfg
        D, S, a = cfg.dim, cfg.stems, cfg.mask_shrink
        out = []
        for (n, w), w_out, b_out in zip(cfg.groups, self.w_out, self.b_out):
            W = w_out.reshape(n, D, S, 2, 2, w)
            W = W - W.mean(dim=2, keepdim=True)
            b = b_out.reshape(n, 1, S, 2, 2, w)
            b = b - b.mean(dim=2, keepdim=True)
            if a != 1.0:
                W, b = a * W, a * b
            one = torch.zeros(1, 1, 1, 2, 2, 1, dtype=b.dtype, device=b.device)
            one[..., :, 0, :] = 1.0 / S  # real part of every stem's mask gets 1/S
            b = b + one
            out.append((W.reshape(n, D, S * 4 * w), b.reshape(n, 1, S * 4 * w)))
        return out

    def head(self, x):
        """x [..., bands, D] -> mask [..., S, 2(ch), 2(re,im), bins]"""
        cfg = self.cfg
        S = cfg.stems
        lead = x.shape[:-2]
        u = self.norm_out(x).reshape(*lead, cfg.n_bands, 1, cfg.dim)
        nl = len(lead)
        perm = list(range(nl)) + [nl + 1, nl + 2, nl + 3, nl, nl + 4]
        ms, b0 = [], 0
        for (n, w), (W, b) in zip(cfg.groups, self.projected_head()):
            ug = u if len(cfg.groups) == 1 else u[..., b0:b0 + n, :, :]
            b0 += n
            m = _band_matmul(ug, W) + b  # [..., n, 1, S*2*2*w]
            m = m.reshape(*lead, n, S, 2, 2, w)
            ms.append(m.permute(*perm).reshape(*lead, S, 2, 2, n * w))
        m = ms[0] if len(ms) == 1 else torch.cat(ms, dim=-1)
        return m[..., :BINS]

    # ------------------------------------------------------------------ full sequence
    def forward(self, spec, chunk: int = 64):
        """spec [B, T, 2, 2, bins] -> mask [B, T, S, 2, 2, bins]"""
        cfg = self.cfg
        Bsz, T = spec.shape[:2]
        x = self.frontend(spec)  # [B, T, nb, D]
        for ssm, mix in zip(self.ssm, self.mix):
            xt = x.permute(0, 2, 1, 3).reshape(Bsz * cfg.n_bands, T, cfg.dim)
            xt, _ = ssm(xt, chunk=chunk)
            x = xt.reshape(Bsz, cfg.n_bands, T, cfg.dim).permute(0, 2, 1, 3)
            x = mix(x)
        return self.head(x)

    # ------------------------------------------------------------------ single step
    def state_shapes(self):
        cfg = self.cfg
        return [(cfg.n_bands, cfg.heads, cfg.head_dim, cfg.d_state)] * cfg.layers

    def state_names(self):
        return [f"ssm{i}" for i in range(self.cfg.layers)]

    def zero_states(self, dtype=torch.float32):
        return [torch.zeros(s, dtype=dtype) for s in self.state_shapes()]

    def step(self, spec, *states):
        """spec [2, 2, bins], states (one per layer) -> (mask [S, 2, 2, bins], *new_states)"""
        x = self.frontend(spec)  # [nb, D]
        new = []
        for ssm, mix, h in zip(self.ssm, self.mix, states):
            x, h = ssm.step(x, h)
            new.append(h)
            x = mix(x)
        return (self.head(x), *new)


def _rename_single_group(state_dict, prefix, *args):
    """Checkpoints from before band groups hold `w_in` etc. as single tensors: group 0."""
    for k in ("w_in", "b_in", "w_out", "b_out"):
        if prefix + k in state_dict:
            state_dict[prefix + k + ".0"] = state_dict.pop(prefix + k)


class StepWrapper(nn.Module):
    """nn.Module around DemixNet.step for torch.onnx.export."""

    def __init__(self, net: DemixNet):
        super().__init__()
        self.net = net

    def forward(self, spec, *states):
        return self.net.step(spec, *states)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
