"""Contract constants (see models/CONTRACT.md) and model hyper-parameters."""
from dataclasses import dataclass, asdict, field

SAMPLE_RATE = 44100
N_FFT = 1024
HOP = 256
BINS = N_FFT // 2 + 1  # 513
STEMS = ("vocals", "drums", "bass", "other")
# stems of record-like examples, whose accompaniment is not split into drums, bass and other
RECORD_STEMS = ("vocals", "accompaniment")
CONTRACT_VERSION = "1"
def model_name(cfg) -> str:
    """The `demix.name` shown in the GUI, from the layout: v1 has 16 uniform bands, v2 band
    groups, v3 adds stereo features."""
    if cfg.stereo_features:
        return "msnet-lite-v3"
    return "msnet-lite-v2" if cfg.band_groups else "msnet-lite-v1"


@dataclass
class ModelConfig:
    n_bands: int = 16          # bands in all (one tensor dimension); set from band_groups when given
    band_width: int = 33       # bins per band when there is one group: 16 * 33 = 528 >= 513 (zero-padded)
    band_groups: tuple = ()    # ((bands, bins per band), ...) from low to high frequency; () = one
                               # uniform group (n_bands, band_width). Each group is one batched MatMul.
    dim: int = 48              # per-band embedding
    layers: int = 3            # dual-path blocks
    expand: int = 2            # SSM inner width = expand * dim
    heads: int = 4             # scalar decay per head
    d_state: int = 16          # SSM state size N
    band_hidden: int = 32      # token-mixing MLP across bands
    stems: int = len(STEMS)
    stereo_features: bool = False  # also feed each band the normalised cross-spectrum 2 L R* / (|L|^2 + |R|^2)
                               # (where a bin sits between the channels; log power alone cannot tell)
    mask_shrink: float = 1.0   # masks are a*M + (1-a)/stems (a calibration chosen after training, on train songs)
    eps: float = 1e-8          # |X|^2 floor inside the log features

    def __post_init__(self):
        self.band_groups = tuple(tuple(int(v) for v in g) for g in self.band_groups)
        if self.band_groups:
            self.n_bands = sum(n for n, _ in self.band_groups)
            self.band_width = max(w for _, w in self.band_groups)
        if self.padded_bins < BINS:
            raise ValueError(f"band groups {self.groups} cover {self.padded_bins} bins, need {BINS}")

    @property
    def groups(self):
        """((bands, bins per band), ...), low to high frequency."""
        return self.band_groups or ((self.n_bands, self.band_width),)

    @property
    def padded_bins(self) -> int:
        return sum(n * w for n, w in self.groups)

    @property
    def inner(self) -> int:
        return self.expand * self.dim

    @property
    def head_dim(self) -> int:
        return self.inner // self.heads

    def to_dict(self):
        return asdict(self)
