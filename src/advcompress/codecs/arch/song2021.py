"""Song2021: variable-rate compression through spatially-adaptive feature transforms (SFT).

M. Song, J. Choi, B. Han, "Variable-Rate Deep Image Compression through Spatially-Adaptive
Feature Transform", ICCV 2021. Official code: github.com/micmic123/QmapCompression.

One network covers every rate: a quality map q(x, y) in [0, 1] enters the encoder and the
hyper-encoder through small condition networks whose features modulate every stage by an SFT
(x * (1 + gamma) + beta). The decoder needs no map: it re-derives its conditioning from the
decoded hyper-latent z_hat, so the rate information travels inside the bitstream.

The registry's quality 10..90 is the official evaluation's uniform map value quality / 100
(the official `eval.py` tests uniform maps of level / 100).

Module and parameter names follow the official `SpatiallyAdaptiveCompression` so its snapshots
load; the one naming difference (the entropy bottleneck's parameter lists) is handled by
`official_key_map`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models import CompressionModel

from advcompress.codecs.learned import (
    Architecture,
    loader_from_file_widths,
    qmap_level,
    qmap_rd_lambda,
    register_architecture,
)

OFFICIAL = {"N": 192, "M": 192, "prior_nc": 64, "sft_ks": 3, "sft_hidden": 128}


class ReflectConv2d(nn.Conv2d):
    """Convolution with reflection padding, as the official main transforms use.

    Reflection needs more pixels than the padding; on inputs too small for it (a 64 x 64 crop
    reaches 2 x 2 before the last 5 x 5 hyper-encoder convolution) it falls back to replicate
    padding, so small training crops work. Wherever the official code runs at all the output is
    identical: nn.Conv2d(padding_mode="reflect") is this same pad-then-convolve.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__(cin, cout, k, stride, padding=0)
        self.pad = k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if min(x.shape[-2:]) > self.pad else "replicate"
        return super().forward(F.pad(x, [self.pad] * 4, mode=mode))


def _conv(cin: int, cout: int, k: int = 5, stride: int = 2, reflect: bool = False) -> nn.Conv2d:
    """'Same' convolution; the main transforms pad by reflection, the condition nets by zeros."""
    if reflect:
        return ReflectConv2d(cin, cout, k, stride)
    return nn.Conv2d(cin, cout, k, stride, k // 2)


def _upconv(cin: int, cout: int, k: int = 5) -> nn.ConvTranspose2d:
    """Transposed convolution that exactly doubles the spatial size."""
    return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1)


class GDN1(GDN):
    """Simplified GDN with an L1 norm, as in the official code.

    The official forward divides by (norm + 1e-4) rather than by norm; kept so that official
    weights give the official numbers. Parameters and buffers are CompressAI's GDN's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        norm = F.conv2d(torch.abs(x), gamma, beta)
        return x * norm if self.inverse else x / (norm + 1e-4)


class SFT(nn.Module):
    """Spatial feature transform: condition features -> per-pixel scale and shift of `x`.

    The condition is average-pooled to `x`'s resolution first, so one condition tensor can
    serve layers at several scales.
    """

    def __init__(self, x_nc: int, prior_nc: int, ks: int = 3, nhidden: int = 128):
        super().__init__()
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(prior_nc, nhidden, ks, padding=ks // 2), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(nhidden, x_nc, ks, padding=ks // 2)
        self.mlp_beta = nn.Conv2d(nhidden, x_nc, ks, padding=ks // 2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(F.adaptive_avg_pool2d(cond, x.shape[-2:]))
        return x * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SFTResblk(nn.Module):
    """Residual block whose two pre-activations are SFT-modulated (SPADE-style)."""

    def __init__(self, x_nc: int, prior_nc: int, ks: int = 3, nhidden: int = 128):
        super().__init__()
        self.conv_0 = nn.Conv2d(x_nc, x_nc, 3, padding=1)
        self.conv_1 = nn.Conv2d(x_nc, x_nc, 3, padding=1)
        self.norm_0 = SFT(x_nc, prior_nc, ks, nhidden)
        self.norm_1 = SFT(x_nc, prior_nc, ks, nhidden)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, cond), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, cond), 0.2))
        return x + dx


def _condition_head(cin: int, p: int) -> nn.Sequential:
    """First condition network of a branch: full resolution, 4p -> 2p -> p channels."""
    act = nn.LeakyReLU(0.1, True)
    return nn.Sequential(
        _conv(cin, 4 * p, 3, 1), act, _conv(4 * p, 2 * p, 3, 1), act, _conv(2 * p, p, 3, 1)
    )


def _condition_step(p: int, up: bool = False) -> nn.Sequential:
    """Follows the main branch one scale down (encoder) or up (decoder)."""
    resample = _upconv(p, p, 3) if up else _conv(p, p, 3)
    return nn.Sequential(resample, nn.LeakyReLU(0.1, True), _conv(p, p, 1, 1))


class Song2021(CompressionModel):
    """Spatially-adaptive variable-rate mean-scale hyperprior (official widths N = M = 192).

    `s` in forward/compress is the quality: a float in [0, 1] (a uniform map) or a quality map
    tensor B x 1 x H x W at the input's resolution. `decompress` ignores `s`: the decoder's
    conditioning comes from z_hat.

    The official code feeds the decoder's condition net with N + N // 4 channels although its
    input is y_hat (M channels) concatenated with N // 4 features; the two agree at the official
    N = M. Here it is M + N // 4, so reduced widths with M != N also build.
    """

    def __init__(self, N=192, M=192, prior_nc=64, sft_ks=3, sft_hidden=128):
        super().__init__()
        self.N, self.M = int(N), int(M)
        p, kw = prior_nc, {"ks": sft_ks, "nhidden": sft_hidden}
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

        # Condition networks: encoder (g1..g5), hyper-encoder (h1..h3), decoder (gs0..gs5).
        self.qmap_feature_g1 = _condition_head(4, p)
        for i in range(2, 6):
            setattr(self, f"qmap_feature_g{i}", _condition_step(p))
        self.qmap_feature_h1 = _condition_head(M + 1, p)
        for i in range(2, 4):
            setattr(self, f"qmap_feature_h{i}", _condition_step(p))
        act = nn.LeakyReLU(0.1, True)
        self.qmap_feature_gs0 = nn.Sequential(
            _upconv(N, N // 2, 3), act, _upconv(N // 2, N // 4), act, _conv(N // 4, N // 4, 3, 1)
        )
        self.qmap_feature_gs1 = _condition_head(M + N // 4, p)
        for i in range(2, 6):
            setattr(self, f"qmap_feature_gs{i}", _condition_step(p, up=True))

        # Encoder g_a: four (conv, GDN1, SFT) stages, then conv to M and two SFT res-blocks.
        # Attribute names g_a0..g_a14 are the official ones (they index the layer list).
        widths = [3, N // 4, N // 2, N, N]
        for i in range(4):
            k_stride = (5, 1) if i == 0 else (5, 2)
            setattr(self, f"g_a{3 * i}", _conv(widths[i], widths[i + 1], *k_stride, reflect=True))
            setattr(self, f"g_a{3 * i + 1}", GDN1(widths[i + 1]))
            setattr(self, f"g_a{3 * i + 2}", SFT(widths[i + 1], p, **kw))
        self.g_a12 = _conv(N, M, reflect=True)
        self.g_a13 = SFTResblk(M, p, **kw)
        self.g_a14 = SFTResblk(M, p, **kw)

        # Hyper-encoder h_a (official h_a0..h_a8; h_a2/h_a5 are parameter-free LeakyReLUs).
        self.h_a0 = _conv(M, N, 3, 1, reflect=True)
        self.h_a1 = SFT(N, p, **kw)
        self.h_a3 = _conv(N, N, reflect=True)
        self.h_a4 = SFT(N, p, **kw)
        self.h_a6 = _conv(N, N, reflect=True)
        self.h_a7 = SFTResblk(N, p, **kw)
        self.h_a8 = SFTResblk(N, p, **kw)

        # Decoder g_s: two SFT res-blocks, four (upconv, inverse GDN1, SFT) stages, conv to RGB.
        self.g_s0 = SFTResblk(M, p, **kw)
        self.g_s1 = SFTResblk(M, p, **kw)
        widths = [M, N, N, N // 2, N // 4]
        for i in range(4):
            setattr(self, f"g_s{3 * i + 2}", _upconv(widths[i], widths[i + 1]))
            setattr(self, f"g_s{3 * i + 3}", GDN1(widths[i + 1], inverse=True))
            setattr(self, f"g_s{3 * i + 4}", SFT(widths[i + 1], p, **kw))
        self.g_s14 = _conv(N // 4, 3, 5, 1, reflect=True)

        # Hyper-decoder: means and scales of y (scales first, as the official chunk order).
        self.h_s = nn.Sequential(
            _upconv(N, M),
            nn.LeakyReLU(inplace=True),
            _upconv(M, M * 3 // 2),
            nn.LeakyReLU(inplace=True),
            _conv(M * 3 // 2, M * 2, 3, 1),
        )

    # -- transforms ---------------------------------------------------------------------------
    @staticmethod
    def quality_map(x: torch.Tensor, s) -> torch.Tensor:
        """The B x 1 x H x W quality map for input `x`: `s` itself, or a uniform map of value s."""
        if torch.is_tensor(s) and s.dim() == 4:
            return s.to(x)
        return torch.full((x.shape[0], 1, *x.shape[-2:]), float(s), dtype=x.dtype, device=x.device)

    def g_a(self, x: torch.Tensor, qmap: torch.Tensor) -> torch.Tensor:
        cond = self.qmap_feature_g1(torch.cat([qmap, x], dim=1))
        for i in range(4):
            if i:
                cond = getattr(self, f"qmap_feature_g{i + 1}")(cond)
            x = getattr(self, f"g_a{3 * i + 1}")(getattr(self, f"g_a{3 * i}")(x))
            x = getattr(self, f"g_a{3 * i + 2}")(x, cond)
        cond = self.qmap_feature_g5(cond)
        x = self.g_a12(x)
        return self.g_a14(self.g_a13(x, cond), cond)

    def h_a(self, y: torch.Tensor, qmap: torch.Tensor) -> torch.Tensor:
        cond = self.qmap_feature_h1(
            torch.cat([F.adaptive_avg_pool2d(qmap, y.shape[-2:]), y], dim=1)
        )
        x = F.leaky_relu(self.h_a1(self.h_a0(y), cond))
        cond = self.qmap_feature_h2(cond)
        x = F.leaky_relu(self.h_a4(self.h_a3(x), cond))
        cond = self.qmap_feature_h3(cond)
        x = self.h_a6(x)
        return self.h_a8(self.h_a7(x, cond), cond)

    def g_s(self, y_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        cond = self.qmap_feature_gs1(torch.cat([self.qmap_feature_gs0(z_hat), y_hat], dim=1))
        x = self.g_s1(self.g_s0(y_hat, cond), cond)
        for i in range(4):
            cond = getattr(self, f"qmap_feature_gs{i + 2}")(cond)
            x = getattr(self, f"g_s{3 * i + 3}")(getattr(self, f"g_s{3 * i + 2}")(x))
            x = getattr(self, f"g_s{3 * i + 4}")(x, cond)
        return self.g_s14(x)

    # -- CompressAI contract ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, s) -> dict:
        y = self.g_a(x, self.quality_map(x, s))
        z = self.h_a(y, self.quality_map(x, s))
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat)
        x_hat = self.g_s(y_hat, z_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor, s) -> dict:
        qmap = self.quality_map(x, s)
        y = self.g_a(x, qmap)
        z = self.h_a(y, qmap)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        indexes = self.gaussian_conditional.build_indexes(scales_hat)
        y_strings = self.gaussian_conditional.compress(y, indexes, means=means_hat)
        return {"strings": [y_strings, z_strings], "shape": z.shape[-2:]}

    def decompress(self, strings, shape, s=None) -> dict:
        """`s` is accepted for the registry's uniform call and unused (see the class doc)."""
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        indexes = self.gaussian_conditional.build_indexes(scales_hat)
        y_hat = self.gaussian_conditional.decompress(strings[0], indexes, means=means_hat)
        return {"x_hat": self.g_s(y_hat, z_hat).clamp_(0, 1)}


# -- official checkpoints ------------------------------------------------------------------------


def official_key_map(state_dict: dict) -> dict:
    """Rename an official QmapCompression snapshot's keys to this module's.

    Accepts the whole snapshot (`{"itr", "model", "optimizer", ...}`) or its `model` entry.
    The official entropy bottleneck (from CompressAI 1.0.9) stores its density model as
    parameter lists `_matrices.i`, `_biases.i`, `_factors.i`; CompressAI 1.2 names them
    `matrices.i`, `biases.i`, `factors.i`. A `module.` prefix (DataParallel) is dropped.
    """
    if "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    renamed = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        for old, new in (
            ("_matrices.", "matrices."),
            ("_biases.", "biases."),
            ("_factors.", "factors."),
        ):
            key = key.replace(f"entropy_bottleneck.{old}", f"entropy_bottleneck.{new}")
        renamed[key] = value
    return renamed


def widths_from_state_dict(state_dict: dict) -> dict:
    """Read N, M, prior_nc, sft_ks, sft_hidden off the tensors' shapes."""
    M, N = state_dict["g_a12.weight"].shape[:2]
    hidden, _, ks, _ = state_dict["g_a2.mlp_shared.0.weight"].shape
    prior_nc = state_dict["qmap_feature_g1.4.weight"].shape[0]
    return {
        "N": int(N),
        "M": int(M),
        "prior_nc": int(prior_nc),
        "sft_ks": int(ks),
        "sft_hidden": int(hidden),
    }


from_state_dict = loader_from_file_widths(Song2021, official_key_map, widths_from_state_dict)


register_architecture(
    Architecture(
        name="song2021",
        make=Song2021,
        official_widths=lambda quality: dict(OFFICIAL),
        variable_rate=True,
        pretrained_url=None,  # the official weights are a Google Drive zip, not a direct URL
        from_state_dict=from_state_dict,
        source="Song2021: quality-map variable rate with SFT (micmic123/QmapCompression)",
        pad_multiple=64,
        widths_keys=("N", "M", "prior_nc", "sft_ks", "sft_hidden"),
        level=qmap_level,
        rd_lambda=qmap_rd_lambda,
    )
)
