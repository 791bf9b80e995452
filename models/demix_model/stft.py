"""The contract's STFT (periodic Hann, n_fft 1024, hop 256, no scaling forward, irfft/n_fft
inverse, windowed overlap-add divided by sum w^2). Frames start with n_fft-hop zeros, as the
streaming host does: frame t covers samples [t*hop - (n_fft-hop), t*hop + hop)."""
import math
import numpy as np

from .config import N_FFT, HOP


def hann_np(n_fft: int = N_FFT) -> np.ndarray:
    n = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)).astype(np.float64)


def low_windows_np(n_fft: int = N_FFT, hop: int = HOP // 2) -> tuple:
    """The host's Low-latency pair at frame hop `hop` (CONTRACT.md, "Low latency"): the analysis
    window (a Hann rise over `n_fft - hop` samples, a sqrt-Hann fall over the last `hop`) and the
    synthesis window over the whole frame (zero but on the last `2*hop` samples, where analysis x
    synthesis is a periodic Hann of `2*hop`, which overlap-adds to one at `hop`)."""
    rise = hann_np(2 * (n_fft - hop))[:n_fft - hop]
    fall = np.sqrt(hann_np(2 * hop)[hop:])
    analysis = np.concatenate([rise, fall])
    synthesis = np.zeros(n_fft)
    tail = analysis[n_fft - 2 * hop:]
    synthesis[n_fft - 2 * hop:] = np.where(tail > 0, hann_np(2 * hop) / np.where(tail > 0, tail, 1), 0)
    return analysis, synthesis


def n_frames(n_samples: int, n_fft: int = N_FFT, hop: int = HOP) -> int:
    # enough frames that every input sample is covered by all n_fft/hop frames
    return int(math.ceil(n_samples / hop)) + n_fft // hop - 1


def stft_np(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """x [..., N] float -> complex spectra [..., T, bins] (frame-major, bins innermost)."""
    x = np.asarray(x, dtype=np.float64)
    N = x.shape[-1]
    T = n_frames(N, n_fft, hop)
    pad_l = n_fft - hop
    total = (T - 1) * hop + n_fft
    xp = np.zeros(x.shape[:-1] + (total,))
    xp[..., pad_l:pad_l + N] = x
    idx = np.arange(T)[:, None] * hop + np.arange(n_fft)[None, :]
    frames = xp[..., idx] * hann_np(n_fft)
    return np.fft.rfft(frames, axis=-1)


def istft_np(X: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """complex [..., T, bins] -> [..., length] (inverse of stft_np)."""
    w = hann_np(n_fft)
    frames = np.fft.irfft(X, n=n_fft, axis=-1) * w
    T = X.shape[-2]
    total = (T - 1) * hop + n_fft
    out = np.zeros(X.shape[:-2] + (total,))
    env = np.zeros(total)
    for t in range(T):
        out[..., t * hop:t * hop + n_fft] += frames[..., t, :]
        env[t * hop:t * hop + n_fft] += w * w
    pad_l = n_fft - hop
    env = np.maximum(env, 1e-8)
    return (out / env)[..., pad_l:pad_l + length]


# ----------------------------------------------------------------------------- torch
def _torch():
    import torch
    return torch


def stft_torch(x, n_fft: int = N_FFT, hop: int = HOP, window=None):
    """x [B, C, N] -> spec [B, T, C, 2, bins] float (re, im), bins innermost (contract layout).
    `window` (numpy, n_fft): the analysis window, periodic Hann by default."""
    torch = _torch()
    N = x.shape[-1]
    T = n_frames(N, n_fft, hop)
    pad_l = n_fft - hop
    total = (T - 1) * hop + n_fft
    xp = torch.nn.functional.pad(x, (pad_l, total - N - pad_l))
    frames = xp.unfold(-1, n_fft, hop)  # [B, C, T, n_fft]
    w = (torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device) if window is None
         else torch.as_tensor(window, dtype=x.dtype, device=x.device))
    X = torch.fft.rfft(frames * w, dim=-1)  # [B, C, T, bins]
    spec = torch.stack([X.real, X.imag], dim=-2)  # [B, C, T, 2, bins]
    return spec.permute(0, 2, 1, 3, 4).contiguous()


def istft_torch(Sre, Sim, length: int, n_fft: int = N_FFT, hop: int = HOP, windows=None):
    """Sre, Sim [..., T, bins] -> [..., length] via irfft/n_fft, window, overlap-add / sum w^2.
    `windows` (numpy analysis, synthesis): another pair, e.g. `low_windows_np()`; the overlap-add
    is then divided by the sum of analysis x synthesis."""
    torch = _torch()
    lead = Sre.shape[:-2]
    T = Sre.shape[-2]
    X = torch.complex(Sre, Sim)
    if windows is None:
        w = torch.hann_window(n_fft, periodic=True, dtype=Sre.dtype, device=Sre.device)
        ws, env_w = w, w * w
    else:
        wa, ws = (torch.as_tensor(v, dtype=Sre.dtype, device=Sre.device) for v in windows)
        env_w = wa * ws
    frames = torch.fft.irfft(X, n=n_fft, dim=-1) * ws  # [..., T, n_fft]
    total = (T - 1) * hop + n_fft
    fr = frames.reshape(-1, T, n_fft).transpose(1, 2)  # [M, n_fft, T]
    out = torch.nn.functional.fold(fr, output_size=(1, total), kernel_size=(1, n_fft),
                                   stride=(1, hop)).reshape(*lead, total)
    env = torch.nn.functional.fold(env_w[None, :, None].expand(1, n_fft, T), output_size=(1, total),
                                   kernel_size=(1, n_fft), stride=(1, hop)).reshape(total)
    pad_l = n_fft - hop
    out = out / env.clamp_min(1e-8)
    return out[..., pad_l:pad_l + length]
