"""HiFiC (Mentzer et al., NeurIPS 2020): the compression path of the generative codec.

Written for this project after reading the PyTorch port github.com/Justin-Tan/
high-fidelity-generative-compression (`src/model.py`, `src/network/{encoder,generator,hyper}.py`,
`src/hyperprior.py`, `src/compression/hyperprior_model.py`, `src/normalisation/channel.py`).
Module and parameter names follow that code (`Encoder`, `Generator`, `Hyperprior.analysis_net`,
`Hyperprior.synthesis_mu`, `Hyperprior.synthesis_std`, `Hyperprior.hyperlatent_likelihood.H_k`
...), so its released weights load through `official_key_map`.

Only what a codec needs is here: encoder E, mean-scale hyperprior, generator G. The conditional
discriminator and the LPIPS network exist only to train G; they are dropped (a GAN-trained
checkpoint's `Discriminator.*` and `perceptual_loss.*` keys are removed by `official_key_map`).
Entropy coding uses CompressAI's rANS instead of the port's own vectorised ANS coder, so the
weights are compatible but the bitstreams are not.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.models import CompressionModel
from compressai.ops import quantize_ste

from advcompress.codecs.learned import Architecture, loader_from_file_widths, register_architecture

OFFICIAL_FILTERS = (60, 120, 240, 480, 960)

# Registry quality -> the port's released weights (target rates 0.14, 0.30, 0.45 bpp).
CHECKPOINTS = {1: "hific_low.pt", 2: "hific_med.pt", 3: "hific_hi.pt"}


class ChannelNorm2D(nn.Module):
    """Normalise each pixel over the channel axis (HiFiC's replacement for instance norm).

    Instance norm computes statistics over space, which makes the output depend on the image
    size and gives artifacts when a model trained on crops codes a full image; statistics over
    channels are per pixel. Unbiased variance and eps=1e-3, as in the port.
    """

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True)
        return self.gamma * (x - mu) * torch.rsqrt(var + self.eps) + self.beta


def _down(cin: int, cout: int) -> nn.Sequential:
    # Reflection pad (left 0, right 1, top 1, bottom 0) + 3x3 stride-2 conv: exact H/2.
    return nn.Sequential(
        nn.ReflectionPad2d((0, 1, 1, 0)),
        nn.Conv2d(cin, cout, 3, stride=2),
        ChannelNorm2D(cout),
        nn.ReLU(),
    )


class Encoder(nn.Module):
    """E: 7x7 conv, four stride-2 stages, 3x3 projection to M channels (stride 16)."""

    def __init__(self, M: int = 220, filters=OFFICIAL_FILTERS):
        super().__init__()
        f = tuple(filters)
        self.conv_block1 = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, f[0], 7), ChannelNorm2D(f[0]), nn.ReLU()
        )
        self.conv_block2 = _down(f[0], f[1])
        self.conv_block3 = _down(f[1], f[2])
        self.conv_block4 = _down(f[2], f[3])
        self.conv_block5 = _down(f[3], f[4])
        self.conv_block_out = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(f[4], M, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in (
            self.conv_block1,
            self.conv_block2,
            self.conv_block3,
            self.conv_block4,
            self.conv_block5,
            self.conv_block_out,
        ):
            x = block(x)
        return x


class ResidualBlock(nn.Module):
    """pad-conv-norm-relu-pad-conv-norm plus identity (no activation after the sum)."""

    def __init__(self, ch: int):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(ch, ch, 3)
        self.conv2 = nn.Conv2d(ch, ch, 3)
        self.norm1 = ChannelNorm2D(ch)
        self.norm2 = ChannelNorm2D(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(self.norm1(self.conv1(self.pad(x))))
        return x + self.norm2(self.conv2(self.pad(r)))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        ChannelNorm2D(cout),
        nn.ReLU(),
    )


class Generator(nn.Module):
    """G: norm + 3x3 conv to the widest width, residual blocks with a long skip, 4 upsamplings."""

    def __init__(self, M: int = 220, filters=OFFICIAL_FILTERS, n_residual_blocks: int = 9):
        super().__init__()
        f = tuple(filters)[::-1]
        self.n_residual_blocks = n_residual_blocks
        self.conv_block_init = nn.Sequential(
            ChannelNorm2D(M), nn.ReflectionPad2d(1), nn.Conv2d(M, f[0], 3), ChannelNorm2D(f[0])
        )
        for m in range(n_residual_blocks):  # names resblock_0 .. as in the port
            self.add_module(f"resblock_{m}", ResidualBlock(f[0]))
        self.upconv_block1 = _up(f[0], f[1])
        self.upconv_block2 = _up(f[1], f[2])
        self.upconv_block3 = _up(f[2], f[3])
        self.upconv_block4 = _up(f[3], f[4])
        self.conv_block_out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(f[4], 3, 7))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        head = self.conv_block_init(y_hat)
        x = head
        for m in range(self.n_residual_blocks):
            x = getattr(self, f"resblock_{m}")(x)
        x = x + head
        for block in (self.upconv_block1, self.upconv_block2, self.upconv_block3):
            x = block(x)
        return self.conv_block_out(self.upconv_block4(x))


class HyperAnalysis(nn.Module):
    def __init__(self, M: int, N: int):
        super().__init__()
        self.conv1 = nn.Conv2d(M, N, 3, padding=1)
        self.conv2 = nn.Conv2d(N, N, 5, stride=2, padding=2, padding_mode="reflect")
        self.conv3 = nn.Conv2d(N, N, 5, stride=2, padding=2, padding_mode="reflect")

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(y)))))


class HyperSynthesis(nn.Module):
    def __init__(self, M: int, N: int):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(N, N, 5, stride=2, padding=2, output_padding=1)
        self.conv2 = nn.ConvTranspose2d(N, N, 5, stride=2, padding=2, output_padding=1)
        self.conv3 = nn.ConvTranspose2d(N, M, 3, padding=1)

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(z_hat)))))


class HyperlatentDensity(EntropyBottleneck):
    """CompressAI's factorized entropy model with the port's density parametrisation.

    The port's density differs from CompressAI's in three ways that the weights depend on:
    one hidden layer fewer (filters 3, 3, 3), a tanh "factor" a_k on every layer including the
    last, and parameter names H_k, a_k, b_k. It also codes round(z) with no median offset.
    Reusing `EntropyBottleneck` keeps CompressAI's rANS coding, aux loss and buffer handling.
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0):
        super().__init__(channels, filters=filters, init_scale=init_scale)
        del self.matrices, self.biases, self.factors
        sizes = (1, *self.filters, 1)
        scale = self.init_scale ** (1 / (len(self.filters) + 1))
        for k in range(len(self.filters) + 1):
            init = float(np.log(np.expm1(1 / scale / sizes[k + 1])))
            self.register_parameter(
                f"H_{k}", nn.Parameter(torch.full((channels, sizes[k + 1], sizes[k]), init))
            )
            self.register_parameter(f"a_{k}", nn.Parameter(torch.zeros(channels, sizes[k + 1], 1)))
            b = torch.empty(channels, sizes[k + 1], 1).uniform_(-0.5, 0.5)
            self.register_parameter(f"b_{k}", nn.Parameter(b))

    def _logits_cumulative(self, inputs: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
        logits = inputs
        for k in range(len(self.filters) + 1):
            H, a, b = (getattr(self, f"{p}_{k}") for p in "Hab")
            if stop_gradient:
                H, a, b = H.detach(), a.detach(), b.detach()
            logits = torch.matmul(F.softplus(H), logits) + b
            logits = logits + torch.tanh(a) * torch.tanh(logits)
        return logits

    def _get_medians(self) -> torch.Tensor:
        # The port quantises hyperlatents to integers (offset 0), not to median + integer.
        return torch.zeros_like(self.quantiles[:, :, 1:2])

    @torch.no_grad()
    def update(self, force: bool = False, update_quantiles: bool = False) -> bool:
        """CDF tables centred on 0 (see `_get_medians`), tails from the learned quantiles."""
        if self._offset.numel() > 0 and not force:
            return False
        if update_quantiles:
            self._update_quantiles()
        minima = torch.ceil(-self.quantiles[:, 0, 0]).int().clamp(min=0)
        maxima = torch.ceil(self.quantiles[:, 0, 2]).int().clamp(min=0)
        pmf_length = minima + maxima + 1
        samples = torch.arange(int(pmf_length.max()), device=minima.device)
        samples = (samples[None, :] - minima[:, None]).float()[:, None, :]
        pmf, lower, upper = self._likelihood(samples, stop_gradient=True)
        pmf = pmf[:, 0, :]
        tail_mass = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, -1:])
        self._offset = -minima
        self._quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, int(pmf_length.max()))
        self._cdf_length = pmf_length + 2
        return True


class Hyperprior(nn.Module):
    """Mean-scale hyperprior: two separate synthesis nets for the means and the scales."""

    def __init__(self, M: int = 220, N: int = 320):
        super().__init__()
        self.analysis_net = HyperAnalysis(M, N)
        self.synthesis_mu = HyperSynthesis(M, N)
        self.synthesis_std = HyperSynthesis(M, N)
        self.hyperlatent_likelihood = HyperlatentDensity(N)
        # Scales are lower-bounded at 0.11 inside GaussianConditional, as in the port.
        self.gaussian_conditional = GaussianConditional(None, scale_bound=0.11)

    def params(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.synthesis_mu(z_hat), self.synthesis_std(z_hat)


class HiFiC(CompressionModel):
    """HiFiC encoder + hyperprior + generator with the CompressAI method contract.

    Args:
        M: latent channels (official 220).
        N: hyperlatent channels (official 320, the port's LARGE_HYPERLATENT_FILTERS).
        filters: encoder widths, reversed for the generator (official 60 ... 960).
        res_blocks: residual blocks in the generator (official 9).
    """

    def __init__(self, M: int = 220, N: int = 320, filters=OFFICIAL_FILTERS, res_blocks: int = 9):
        super().__init__()
        if len(tuple(filters)) != 5:
            raise ValueError("filters needs five widths (one per encoder stage)")
        self.Encoder = Encoder(M, filters)
        self.Generator = Generator(M, filters, res_blocks)
        self.Hyperprior = Hyperprior(M, N)

    @property
    def downsampling_factor(self) -> int:
        return 128  # stride 64, but reflect padding needs a 4x4 hyper input (see pad_multiple)

    def _quantize(self, y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Latent fed to G: straight-through rounding in training (as the port), the entropy
        model's own rounding in evaluation (so `quantization_proxy` reaches it)."""
        if self.training:
            return quantize_ste(y - means) + means
        return self.Hyperprior.gaussian_conditional.quantize(y, "dequantize", means)

    def forward(self, x: torch.Tensor) -> dict:
        hp = self.Hyperprior
        y = self.Encoder(x)
        z = hp.analysis_net(y)
        z_hat, z_likelihoods = hp.hyperlatent_likelihood(z)  # noisy in training, as the port
        means, scales = hp.params(z_hat)
        _, y_likelihoods = hp.gaussian_conditional(y, scales, means=means)
        x_hat = self.Generator(self._quantize(y, means))
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor) -> dict:
        hp = self.Hyperprior
        y = self.Encoder(x)
        z = hp.analysis_net(y)
        z_strings = hp.hyperlatent_likelihood.compress(z)
        z_hat = hp.hyperlatent_likelihood.decompress(z_strings, z.shape[-2:])
        means, scales = hp.params(z_hat)
        indexes = hp.gaussian_conditional.build_indexes(scales)
        y_strings = hp.gaussian_conditional.compress(y, indexes, means=means)
        return {"strings": [y_strings, z_strings], "shape": z.shape[-2:]}

    def decompress(self, strings: list, shape) -> dict:
        hp = self.Hyperprior
        y_strings, z_strings = strings
        z_hat = hp.hyperlatent_likelihood.decompress(z_strings, shape)
        means, scales = hp.params(z_hat)
        indexes = hp.gaussian_conditional.build_indexes(scales)
        y_hat = hp.gaussian_conditional.decompress(y_strings, indexes, means=means)
        return {"x_hat": self.Generator(y_hat).clamp_(0, 1)}


# Keys of the port's training-time Model that are not part of the codec.
_DROPPED_PREFIXES = (
    "Discriminator.",
    "perceptual_loss.",
    "Hyperprior.hyperprior_entropy_model.",
    "Hyperprior.prior_density.",
    "Hyperprior.prior_entropy_model.",
)


def official_key_map(state_dict: dict) -> dict:
    """Make a released HiFiC file (`hific_low.pt`, ...) load into `HiFiC` with strict=True.

    - unwraps `{"model_state_dict": ..., "args": ...}` (the port's checkpoint layout) and
      strips DataParallel's `module.` prefix;
    - drops the discriminator, the LPIPS network and any built coding tables (see
      `_DROPPED_PREFIXES`): they are not part of the codec;
    - adds the entropy-coder state the port does not have: CompressAI's quantiles (initial
      values, refined by `from_state_dict` with a bisection search on the density), its
      `target`/bound buffers and empty CDF buffers (rebuilt by `update(force=True)`), and
      the Gaussian conditional's buffers.
    """
    for wrapper in ("model_state_dict", "state_dict"):
        if wrapper in state_dict and isinstance(state_dict[wrapper], dict):
            state_dict = state_dict[wrapper]
    out = {
        k.removeprefix("module."): v
        for k, v in state_dict.items()
        if not k.removeprefix("module.").startswith(_DROPPED_PREFIXES)
    }
    channels = out["Hyperprior.hyperlatent_likelihood.H_0"].shape[0]
    fresh = {
        "Hyperprior.hyperlatent_likelihood": HyperlatentDensity(channels),
        "Hyperprior.gaussian_conditional": GaussianConditional(None, scale_bound=0.11),
    }
    for prefix, module in fresh.items():
        for k, v in module.state_dict().items():
            out.setdefault(f"{prefix}.{k}", v)
    return out


def official_widths(quality: int) -> dict:
    if int(quality) not in CHECKPOINTS:
        raise ValueError(f"hific has qualities 1..3 (low, med, high: {list(CHECKPOINTS.values())})")
    return {"M": 220, "N": 320, "filters": list(OFFICIAL_FILTERS), "res_blocks": 9}


def widths_from_state_dict(state: dict) -> dict:
    """HiFiC's widths read off a file's tensor shapes (after `official_key_map`), so that a file of
    any width, the released ones or a narrower one, loads through the same path."""
    state = official_key_map(state)
    stages = ["conv_block1.1", "conv_block2.1", "conv_block3.1", "conv_block4.1", "conv_block5.1"]
    return {
        "M": state["Encoder.conv_block_out.1.weight"].shape[0],
        "N": state["Hyperprior.analysis_net.conv1.weight"].shape[0],
        "filters": [state[f"Encoder.{s}.weight"].shape[0] for s in stages],
        "res_blocks": sum(1 for k in state if re.fullmatch(r"Generator\.resblock_\d+\.conv1\.weight", k)),
    }


_load_file_widths = loader_from_file_widths(HiFiC, official_key_map, widths_from_state_dict)


def from_state_dict(state: dict) -> HiFiC:
    """A HiFiC holding the weights of a released file, at the widths the file holds."""
    net = _load_file_widths(state)
    if "Hyperprior.hyperlatent_likelihood.quantiles" not in _unwrap_keys(state):
        net.Hyperprior.hyperlatent_likelihood._update_quantiles()
    return net


def _unwrap_keys(state: dict) -> set:
    for wrapper in ("model_state_dict", "state_dict"):
        if wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    return {k.removeprefix("module.") for k in state}


ARCH = register_architecture(
    Architecture(
        name="hific",
        make=HiFiC,
        official_widths=official_widths,
        variable_rate=False,
        pretrained_url=None,  # Google Drive only, no direct URL; see docs/codecs/hific.md
        from_state_dict=from_state_dict,
        source="HiFiC, Mentzer et al. 2020 (compression path; Justin-Tan PyTorch port names)",
        # 64 would do for the strides; 128 keeps the hyper-analysis' reflect padding (2 px)
        # smaller than its input (4 px at least), which a 64x64 image would violate.
        pad_multiple=128,
        widths_keys=("M", "N", "filters", "res_blocks"),
    )
)
