"""Contract constants (see models/CONTRACT.md) and model hyper-parameters."""
from dataclasses import dataclass, asdict, field

SAMPLE_RATE = 44100
N_FFT = 1024
HOP = 256
BINS = N_FFT // 2 + 1  # 513
STEMS = ("vocals", "drums", "bass", "other")
CONTRACT_VERSION = "1"
MODEL_NAME = "msnet-lite-v1"


@dataclass
class ModelConfig:
    n_bands: int = 16          # uniform bands, one tensor dimension
    band_width: int = 33       # 16 * 33 = 528 >= 513 bins (zero-padded)
    dim: int = 48              # per-band embedding
    layers: int = 3            # dual-path blocks
    expand: int = 2            # SSM inner width = expand * dim
    heads: int = 4             # scalar decay per head
    d_state: int = 16          # SSM state size N
    band_hidden: int = 32      # token-mixing MLP across bands
    stems: int = len(STEMS)
    eps: float = 1e-8          # |X|^2 floor inside the log features

    @property
    def inner(self) -> int:
        return self.expand * self.dim

    @property
    def head_dim(self) -> int:
        return self.inner // self.heads

    def to_dict(self):
        return asdict(self)
