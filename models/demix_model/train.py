"""Training (CPU or GPU), resumable, with throughput and data ledger in the log.

  demix-train --name cpu1 --minutes 60                     # our songs, CPU
  demix-train --name gpu1 --minutes 8 --batch 64 --seg 3   # on a GPU (auto-detected)
  demix-train --musdb /path/to/musdb18hq [--no-ours]       # MUSDB18-HQ (+ ours)
  demix-train --name cpu1 --resume --minutes 30            # continue a run

Writes models/.runs/<name>/{last.pt,best.pt,log.jsonl,ledger.json}.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .config import ModelConfig, STEMS, SAMPLE_RATE, HOP, N_FFT, RECORD_STEMS
from .data import StemBank, RandomMixer, list_tracks, read_wav, _find, manifest_sha256, merge_ledgers
from .model import DemixNet, count_params
from .stft import stft_torch, istft_torch, low_windows_np

MODELS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_NONFINITE_IN_A_ROW = 10
"""Batches in a row with a non-finite loss or gradient after which training stops."""
LOW_WINDOWS = low_windows_np(N_FFT, HOP // 2)
"""The host's Low-latency (analysis, synthesis) window pair at half the model's hop."""


def separate(net, stems, chunk=64, low=False):
    """stems [B, S, 2, L] -> estimates [B, S, 2, L] (mixture = sum of stems).

    `low`: as the host runs the model at Low latency (CONTRACT.md): asymmetric windows at half the
    hop, with the even and the odd frames in two recurrent streams, each at the model's hop."""
    mix = stems.sum(1)
    L = mix.shape[-1]
    hop, windows = (HOP // 2, LOW_WINDOWS) if low else (HOP, None)
    spec = stft_torch(mix, N_FFT, hop, window=None if windows is None else windows[0])  # [B, T, 2, 2, K]
    if low:
        T = spec.shape[1]
        m = torch.cat([net(spec[:, 0::2], chunk=chunk), net(spec[:, 1::2], chunk=chunk)], dim=1)
        order = torch.cat([torch.arange(0, T, 2), torch.arange(1, T, 2)])
        m = m[:, torch.argsort(order).to(m.device)]  # back to time order
    else:
        m = net(spec, chunk=chunk)  # [B, T, S, 2, 2, K]
    xr, xi = spec[:, :, None, :, 0], spec[:, :, None, :, 1]  # [B, T, 1, 2, K]
    mr, mi = m[:, :, :, :, 0], m[:, :, :, :, 1]
    yr = mr * xr - mi * xi
    yi = mr * xi + mi * xr  # [B, T, S, 2, K]
    yr, yi = yr.permute(0, 2, 3, 1, 4), yi.permute(0, 2, 3, 1, 4)  # [B, S, 2, T, K]
    return istft_torch(yr, yi, L, N_FFT, hop, windows=windows)


def mrstft(x, n_ffts=(2048, 512)):
    out = []
    flat = x.reshape(-1, x.shape[-1])
    for n in n_ffts:
        w = torch.hann_window(n, device=x.device, dtype=x.dtype)
        out.append(torch.stft(flat, n, n // 4, window=w, return_complex=True).abs())
    return out


def loss_fn(est, ref):
    """L1 on waveforms + multi-resolution STFT magnitude L1, normalised by the mixture level."""
    scale = ref.sum(1).pow(2).mean(dim=(-1, -2), keepdim=True).sqrt().clamp_min(1e-4)[:, None]  # [B,1,1,1]
    e, r = est / scale, ref / scale
    l_time = (e - r).abs().mean()
    l_spec = sum((a - b).abs().mean() for a, b in zip(mrstft(e), mrstft(r)))
    return l_time + 0.5 * l_spec


def training_loss(est, ref, sdr_weight=0.0):
    """The training loss of one kind of example (four stems, or the two parts of a record):
    `loss_fn`, plus `sdr_weight` x the SDR term."""
    loss = loss_fn(est, ref)
    return loss + sdr_weight * sdr_loss(est, ref) if sdr_weight else loss


def two_part(est):
    """Four-stem estimates [B, 4, 2, L] -> [vocals, drums + bass + other] [B, 2, 2, L]: what
    recordings with an unknown accompaniment split are scored against."""
    return torch.stack([est[:, 0], est[:, 1:].sum(1)], dim=1)


def master_like_a_record(x, rng, p):
    """With probability p per example: bring the mixture to release loudness (RMS -14..-6 dBFS)
    and limit its peaks (ceiling -1..-0.1 dBFS, 12-46 ms hold), applying the limiter's gain curve
    to every stem, so the stems still sum to the (mastered) mixture. x [B, S, 2, L] (torch)."""
    B, _, _, L = x.shape
    on = rng.random(B) < p
    if not on.any():
        return x
    dev = x.device
    on_t = torch.from_numpy(on).to(dev)
    mix = x.sum(1)  # [B, 2, L]
    rms = mix.pow(2).mean(dim=(-1, -2)).sqrt().clamp_min(1e-5)
    target = torch.from_numpy(10 ** (rng.uniform(-14, -6, B) / 20)).float().to(dev)
    drive = torch.where(on_t, target / rms, torch.ones_like(rms))
    hop = 64
    nb = (L + hop - 1) // hop
    a = (mix * drive[:, None, None]).abs().amax(1)  # [B, L]
    a = torch.nn.functional.pad(a, (0, nb * hop - L))
    pk = a.reshape(B, nb, hop).amax(-1)  # block peaks
    ceil = torch.from_numpy(10 ** (rng.uniform(-1.0, -0.1, B) / 20)).float().to(dev)
    want = torch.clamp(ceil[:, None] / pk.clamp_min(1e-6), max=1.0)
    k = int(rng.choice([8, 16, 32]))  # hold radius in blocks
    g = -torch.nn.functional.max_pool1d(-want[:, None], 2 * k + 1, 1, k)  # min over +-k blocks
    g = torch.nn.functional.avg_pool1d(g, k + 1 if k % 2 == 0 else k, 1, k // 2, count_include_pad=False)
    g = torch.nn.functional.interpolate(g, size=nb * hop, mode="linear", align_corners=False)[:, 0, :L]
    g = torch.where(on_t[:, None], g * drive[:, None], torch.ones_like(g))
    return x * g[:, None, None, :]


SDR_EPS_MIN = 1e-8
"""Smallest eps of the SDR loss term (energy of a waveform segment, full scale = 1)."""


def sdr_torch(ref, est, eps=SDR_EPS_MIN):
    """MDX SDR per example and stem: [B, S]. ``eps`` may be a tensor that broadcasts to [B, S]."""
    num = ref.pow(2).sum(dim=(-1, -2))
    den = (ref - est).pow(2).sum(dim=(-1, -2))
    return 10 * torch.log10((num + eps) / (den + eps))


def sdr_loss(est, ref, floor=1e-3):
    """Negative MDX SDR in dB, mean over examples and stems, with eps = floor x the example's
    mixture energy, which keeps silent (dropped) stems bounded; an absolute minimum of eps keeps
    a silent segment (0 / 0) at 0 dB instead of NaN."""
    e = (floor * ref.sum(1).pow(2).sum(dim=(-1, -2))[:, None]).clamp_min(SDR_EPS_MIN)  # [B, 1]
    return -sdr_torch(ref, est, eps=e).mean()


def valid_set(roots, seg_s=6.0, per_track=2, max_tracks=40):
    """Fixed coherent excerpts from the valid split(s): stems [N, S, 2, L] float32 (cpu)."""
    L = int(seg_s * SAMPLE_RATE)
    out = []
    for root in roots:
        for tr in list_tracks(root, "valid")[:max_tracks]:
            st = np.stack([read_wav(_find(tr, s)) for s in STEMS])
            n = st.shape[-1]
            for j in range(per_track):
                o = int((j + 1) * n / (per_track + 1)) - L // 2
                o = max(0, min(o, n - L))
                seg = st[..., o:o + L]
                if seg.shape[-1] < L:
                    seg = np.pad(seg, ((0, 0), (0, 0), (0, L - seg.shape[-1])))
                out.append(seg)
    return torch.from_numpy(np.stack(out)) if out else None


@torch.no_grad()
def validate(net, vset, device, bs=8, chunk=64):
    net.eval()
    sd, ls = [], []
    for i in range(0, len(vset), bs):
        ref = vset[i:i + bs].to(device)
        est = separate(net, ref, chunk)
        ls.append(loss_fn(est, ref).item() * len(ref))
        s = sdr_torch(ref, est)
        s[ref.pow(2).sum(dim=(-1, -2)) < 1e-6] = float("nan")  # silent stems: undefined
        sd.append(s.cpu())
    net.train()
    sd = torch.cat(sd)
    per = {s: float(np.nanmedian(sd[:, k].numpy())) for k, s in enumerate(STEMS)}
    per["mean"] = float(np.mean([per[s] for s in STEMS]))
    return sum(ls) / len(vset), per


def parse_bands(text):
    """"12x8,6x24" -> ((12, 8), (6, 24)); "" -> () (the default uniform bands)."""
    return tuple(tuple(int(v) for v in g.split("x")) for g in text.split(",") if g.strip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="run")
    ap.add_argument("--songs", default=os.path.join(MODELS_DIR, ".data", "songs"),
                    help="our generated songs (MUSDB layout); manifest.json read from here")
    ap.add_argument("--no-ours", action="store_true", help="do not use --songs")
    ap.add_argument("--musdb", default=None, help="MUSDB18-HQ root (train/ and optionally valid/ or test/)")
    ap.add_argument("--musdb-valid-split", default="valid")
    ap.add_argument("--runs-dir", default=os.path.join(MODELS_DIR, ".runs"), help="where <name>/ is written")
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget for this invocation")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many total steps (0: by time)")
    ap.add_argument("--total-minutes", type=float, default=None,
                    help="length of the LR schedule over all invocations (default: --minutes)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seg", type=float, default=2.0, help="segment seconds")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200, help="LR warm-up steps")
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lazy", action="store_true", help="read segments from disk (large datasets)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (new schedule)")
    ap.add_argument("--init-ledger-prefix", default="",
                    help="file the --init checkpoint's ledger under this prefix (e.g. v5/), so its songs stay "
                         "apart from this run's songs of the same name and are looked up in "
                         "training-manifest-v5.json")
    ap.add_argument("--valid-every", type=float, default=600.0,
                    help="seconds between validations (one takes ~38 s on 2 cores: at 120 s, a quarter of the time)")
    ap.add_argument("--seed", type=int, default=0, help="data seed (0: from the clock; give another one when resuming)")
    ap.add_argument("--p-eq", type=float, default=0.5, help="probability of a random EQ per stem")
    ap.add_argument("--p-speed", type=float, default=0.0,
                    help="probability of resampling a stem by a random factor (pitch + tempo)")
    ap.add_argument("--speed", type=float, nargs=2, default=(0.89, 1.12), help="range of that factor")
    ap.add_argument("--sdr-weight", type=float, default=0.0,
                    help="add this x the negative SDR in dB (the evaluation metric) to the loss")
    ap.add_argument("--dim", type=int, default=ModelConfig.dim)
    ap.add_argument("--layers", type=int, default=ModelConfig.layers)
    ap.add_argument("--bands", default="", help="band groups low to high, e.g. 12x8,6x24,6x46 "
                    "(bands x bins each); default: 16 uniform bands of 33 bins")
    ap.add_argument("--band-hidden", type=int, default=ModelConfig.band_hidden)
    ap.add_argument("--only", default="", help="train only the parameters whose names start with one of "
                    "these comma-separated prefixes (e.g. w_sp); the rest stay frozen")
    ap.add_argument("--records", default=None,
                    help="record-like examples (demix_data.records: <dir>/train/<id>/{vocals,accompaniment}), "
                         "trained with the two-part loss (vocals; drums + bass + other)")
    ap.add_argument("--records-share", type=float, default=0.5, help="share of each batch drawn from --records")
    ap.add_argument("--p-master", type=float, default=0.0,
                    help="probability of mastering a four-stem example like a record (loudness + limiter)")
    ap.add_argument("--p-low", type=float, default=0.0,
                    help="probability that a batch runs as at Low latency (asymmetric windows, half the hop, "
                         "two recurrent streams); it costs twice the model time of a standard batch")
    ap.add_argument("--compile", action="store_true",
                    help="run the training forward through torch.compile (its first steps compile; "
                         "demix-trainbench measures the gain on a machine)")
    ap.add_argument("--stereo-features", action="store_true",
                    help="also feed the bands the inter-channel cross-spectrum (from --init: starts at zero)")
    a = ap.parse_args(argv)

    dev = torch.device("cuda" if (a.device == "auto" and torch.cuda.is_available()) else
                       ("cpu" if a.device == "auto" else a.device))
    if a.threads:
        torch.set_num_threads(a.threads)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run = os.path.join(a.runs_dir, a.name)
    os.makedirs(run, exist_ok=True)
    logf = open(os.path.join(run, "log.jsonl"), "a")

    def log(msg, **kv):
        print(msg, flush=True)
        if kv:
            logf.write(json.dumps(dict(kv, time=time.time())) + "\n")
            logf.flush()

    sources, vroots = [], []
    manifest = os.path.join(a.songs, "manifest.json")
    if not a.no_ours and os.path.isdir(a.songs):
        sources.append((a.songs, "train", "ours", manifest))
        vroots.append(a.songs)
    if a.musdb:
        sources.append((a.musdb, "train", "musdb", None))
        for vs in (a.musdb_valid_split, "test"):
            if list_tracks(a.musdb, vs):
                vroots.append(a.musdb) if vs == "valid" else None
                break
    if not sources:
        raise SystemExit(f"no training data: {a.songs} missing and no --musdb")
    bank = StemBank(sources, preload=not a.lazy, log=log)
    seg_len = int(a.seg * SAMPLE_RATE)
    mixer = RandomMixer(bank, seg_len, seed=a.seed or int(time.time()) % 100000, device=dev, p_eq=a.p_eq,
                        p_speed=a.p_speed, speed=tuple(a.speed))
    rmixer, n_rec = None, 0
    if a.records:
        rbank = StemBank([(a.records, "train", "records", None)], preload=not a.lazy, log=log, stems=RECORD_STEMS)
        rmixer = RandomMixer(rbank, seg_len, seed=(a.seed or int(time.time()) % 100000) + 7, device=dev,
                             p_eq=0.0, p_coherent=0.6, gain_db=(-4.0, 2.0), p_drop=0.03, p_speed=a.p_speed,
                             speed=tuple(a.speed))
        n_rec = max(1, min(a.batch - 1, int(round(a.batch * a.records_share))))
        log(f"records: {len(rbank.tracks)} examples, {n_rec} of every {a.batch} in a batch (two-part loss)")
    aug_rng = np.random.default_rng((a.seed or int(time.time()) % 100000) + 11)
    vset = valid_set(vroots)
    log(f"valid: {0 if vset is None else len(vset)} excerpts from {vroots}")

    cfg = ModelConfig(dim=a.dim, layers=a.layers, band_hidden=a.band_hidden, band_groups=parse_bands(a.bands),
                      stereo_features=a.stereo_features)
    net = DemixNet(cfg).to(dev)
    ema = DemixNet(cfg).to(dev)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    if a.only:
        keep = tuple(a.only.split(","))
        for n, p in net.named_parameters():
            p.requires_grad_(n.startswith(keep))
        if not any(p.requires_grad for p in net.parameters()):
            raise SystemExit(f"--only {a.only}: no parameter matches")
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=a.lr, weight_decay=1e-4,
                            betas=(0.9, 0.99))
    step, elapsed_prev, audio_s, ledger_prev, best = 0, 0.0, 0.0, {}, -1e9
    total_min = a.total_minutes or a.minutes
    last = os.path.join(run, "last.pt")
    if a.resume and os.path.exists(last):
        st = torch.load(last, map_location=dev, weights_only=False)
        net.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        if st.get("opt"):
            opt.load_state_dict(st["opt"])
        else:
            log("checkpoint has no optimizer state: Adam moments restart (with LR warm-up)")
        step, elapsed_prev, audio_s = st["step"], st["elapsed"], st["audio_seconds"]
        ledger_prev, best = st.get("ledger", {}), st.get("best", -1e9)
        total_min = a.total_minutes or st.get("total_minutes", total_min)
        if a.total_minutes is None and elapsed_prev / 60 >= total_min:
            total_min = elapsed_prev / 60 + a.minutes
        log(f"resumed {last}: step {step}, {elapsed_prev / 60:.1f} min, {audio_s / 3600:.2f} h audio")
    elif a.init:
        st = torch.load(a.init, map_location=dev, weights_only=False)
        net.load_state_dict(st["ema"] or st["model"])
        ema.load_state_dict(net.state_dict())
        ledger_prev = {a.init_ledger_prefix + k: v for k, v in st.get("ledger", {}).items()}
        audio_s = st.get("audio_seconds", 0.0)
        log(f"init from {a.init}")
    # the training forward; the same parameters as `net`, so optimiser, EMA and saves see no difference
    fwd = torch.compile(net) if a.compile else net
    sha = manifest_sha256(manifest if (not a.no_ours and os.path.exists(manifest)) else None)
    log(f"model {cfg.to_dict()}: {count_params(net)} params; device {dev}; batch {a.batch} x {a.seg} s"
        + ("; compiled" if a.compile else ""))

    def save(path, extra=None):
        led = merge_ledgers(ledger_prev, mixer.ledger_summary())
        if rmixer is not None:
            led = merge_ledgers(led, rmixer.ledger_summary())
        st = {"model": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
              "elapsed": elapsed_prev + (time.time() - t_start), "audio_seconds": audio_s, "ledger": led,
              "best": best, "model_cfg": cfg.to_dict(), "manifest_sha256": sha, "total_minutes": total_min,
              "args": vars(a), **(extra or {})}
        torch.save(st, path + ".tmp")
        os.replace(path + ".tmp", path)
        with open(os.path.join(run, "ledger.json"), "w") as f:
            json.dump({"audio_seconds": audio_s, "steps": step, "tracks": led}, f, indent=1)

    def validate_and_keep_best():
        """Scores the EMA weights on the valid set, logs it, and keeps best.pt when the mean improves."""
        nonlocal best
        vl, per = validate(ema, vset, dev, chunk=a.chunk)
        if per["mean"] > best:
            best = per["mean"]
            save(os.path.join(run, "best.pt"), {"valid": per})
        log(f"valid step {step}: loss {vl:.4f} SDR " + " ".join(f"{k} {v:.2f}" for k, v in per.items()),
            kind="valid", step=step, loss=vl, sdr=per, audio_hours=audio_s / 3600)

    def objective(est, ref):
        return training_loss(est, ref, a.sdr_weight)

    t_start = time.time()
    t_valid = t_save = t_print = time.time()
    win_audio, win_t, win_loss = 0.0, time.time(), []
    base_lr, warm = a.lr, max(1, a.warmup)
    warm_from = step if (a.resume and not (os.path.exists(last) and torch.load(last, map_location="cpu", weights_only=False).get("opt"))) else 0
    net.train()
    nonfinite = 0
    while True:
        now = time.time()
        run_elapsed = now - t_start
        if run_elapsed > a.minutes * 60 or (a.steps and step >= a.steps):
            break
        prog = min(1.0, (elapsed_prev + run_elapsed) / (total_min * 60))
        if a.steps:
            prog = max(prog, step / a.steps)
        lr = base_lr * min(1.0, (step - warm_from + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g["lr"] = lr
        ref = mixer.batch(a.batch - n_rec)
        if a.p_master:
            ref = master_like_a_record(ref, aug_rng, a.p_master)
        low = bool(a.p_low) and aug_rng.random() < a.p_low
        if rmixer is None:
            loss = objective(separate(fwd, ref, a.chunk, low), ref)
        else:
            # one forward over both kinds: four-stem songs, then two-stem records
            rref = rmixer.batch(n_rec)
            n4 = len(ref)
            padded = torch.cat([rref, torch.zeros_like(rref)], dim=1)  # [n, 4, 2, L]; mixture = sum
            est = separate(fwd, torch.cat([ref, padded]), a.chunk, low)
            loss = (n4 * objective(est[:n4], ref) + n_rec * objective(two_part(est[n4:]), rref)) / (n4 + n_rec)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        if not (torch.isfinite(loss) and torch.isfinite(gn)):
            # one bad batch must not turn every weight into NaN; many in a row mean a real fault
            nonfinite += 1
            log(f"step {step}: non-finite loss or gradient, batch skipped ({nonfinite} in a row)",
                kind="skipped", step=step)
            if nonfinite >= MAX_NONFINITE_IN_A_ROW:
                raise SystemExit(f"{nonfinite} batches in a row gave a non-finite loss or gradient; "
                                 f"stopped at step {step} without saving (last.pt keeps its previous save)")
            continue
        nonfinite = 0
        opt.step()
        with torch.no_grad():
            d = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        step += 1
        audio_s += a.batch * a.seg  # records included
        win_audio += a.batch * a.seg
        win_loss.append(loss.item())
        if time.time() - t_print > 30 or step == 5:
            dt = time.time() - win_t
            log(f"step {step} loss {np.mean(win_loss):.4f} lr {lr:.2e} gn {float(gn):.2f} "
                f"{win_audio / dt:.0f}x real time ({win_audio / dt:.0f} s audio/s), "
                f"seen {audio_s / 3600:.2f} h, {(elapsed_prev + time.time() - t_start) / 60:.1f} min",
                kind="train", step=step, loss=float(np.mean(win_loss)), lr=lr, audio_per_s=win_audio / dt,
                audio_hours=audio_s / 3600)
            win_audio, win_t, win_loss, t_print = 0.0, time.time(), [], time.time()
        if vset is not None and time.time() - t_valid > a.valid_every:
            validate_and_keep_best()
            t_valid = time.time()
        if time.time() - t_save > 120:
            save(last)
            t_save = time.time()
    if vset is not None:
        validate_and_keep_best()
    else:
        save(os.path.join(run, "best.pt"))
    save(last)
    log(f"done: step {step}, {audio_s / 3600:.2f} h audio seen, {(elapsed_prev + time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
