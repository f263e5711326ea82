"""Cai2022 (HiFi-VRIC): variable-rate compression with invertible activation transformations.

S. Cai, Z. Zhang, L. Chen, L. Yan, S. Zhong, X. Zou, "High-Fidelity Variable-Rate Image
Compression via Invertible Activation Transformation", ACM MM 2022.
Official code: github.com/CaiShilv/HiFi-VRIC (class `VRIC_IAT`).

The analysis and synthesis transforms are one invertible network run both ways: four levels of
(squeeze, invertible 1x1 convolution, affine coupling layers), each followed by an invertible
activation transformation (IAT), an SFT-like affine map x * (1 + gamma(q)) + beta(q) whose
scale and shift come from the quality map q and which the decoder undoes exactly. A dense
"enhancement" block runs before the encoder and another after the decoder. The entropy model
is Minnen2018's: a hyperprior plus a 5x5 masked spatial context, mean-scale Gaussian.

The registry's quality 10..90 is the official level: a uniform quality map of value quality / 100.

Bitstream semantics (a documented deviation): the decoded latent is round(y), the value the
official eval-mode `forward` feeds the synthesis, so `forward` reconstructs exactly what
`decompress` decodes. Each symbol is coded as round(y) - round(mu) with the scale's Gaussian
table (the context mean is rounded so encoder and decoder agree on integers); the official
coder instead decodes round(y - mu) + mu, which no parallel forward pass can reproduce.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import MaskedConv2d
from compressai.models import CompressionModel

from advcompress.codecs.learned import (
    Architecture,
    loader_from_file_widths,
    qmap_level,
    qmap_rd_lambda,
    register_architecture,
)
from advcompress.device import to_python

OFFICIAL = {
    "N": 192,
    "M": 192,
    "enh_nf": 64,
    "enh_gc": 32,
    "couplings": 3,
    "inn_hidden": None,
    "iat_hidden": None,
}
INN_CHANNELS = (12, 48, 192, 768)  # 3 colour channels after 1..4 squeezes
KERNELS = (5, 5, 3, 3)  # coupling kernel size per level, as in the official InvComp


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def _init_scaled_xavier(convs, scale: float) -> None:
    """Small initial residual branches keep the fresh network close to the identity."""
    for conv in convs:
        nn.init.xavier_normal_(conv.weight)
        conv.weight.data.mul_(scale)
        nn.init.zeros_(conv.bias)


def _init_zero(conv: nn.Conv2d) -> None:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)


# -- invertible network -----------------------------------------------------------------------


class Squeeze(nn.Module):
    """Space-to-depth by 2 with the official channel order (row phase, column phase, channel).

    Parameter-free, but kept as a module so the level lists index as in the official code.
    """

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        b, c, h, w = x.shape
        if not rev:
            x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
            return x.reshape(b, 4 * c, h // 2, w // 2)
        x = x.reshape(b, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2)
        return x.reshape(b, c // 4, 2 * h, 2 * w)


class InvertibleConv1x1(nn.Module):
    """Glow's 1x1 convolution with a learned (orthogonally initialised) channel mixing matrix."""

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        self.weight = nn.Parameter(q)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        w = torch.inverse(self.weight.double()).float() if rev else self.weight
        return F.conv2d(x, w[:, :, None, None])


class Bottleneck(nn.Module):
    """Sub-network of a coupling layer: conv k, conv 1, conv k. The last starts at zero.

    `hidden=None` is the official width (the output width); a smaller `hidden` is the reduced
    configuration for CPU training.
    """

    def __init__(self, cin: int, cout: int, k: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or cout
        self.conv1 = nn.Conv2d(cin, hidden, k, padding=k // 2)
        self.conv2 = nn.Conv2d(hidden, hidden, 1)
        self.conv3 = nn.Conv2d(hidden, cout, k, padding=k // 2)
        _init_scaled_xavier([self.conv1, self.conv2], 0.1)
        _init_zero(self.conv3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), 0.2)
        return self.conv3(F.leaky_relu(self.conv2(x), 0.2))


class CouplingLayer(nn.Module):
    """Affine coupling on a 1:3 channel split; scales exp(clamp * (2 sigmoid - 1)) stay bounded."""

    def __init__(self, c1: int, c2: int, k: int, hidden: int | None = None, clamp: float = 1.0):
        super().__init__()
        self.c1, self.clamp = c1, clamp
        self.G1 = Bottleneck(c1, c2, k, hidden)
        self.G2 = Bottleneck(c2, c1, k, hidden)
        self.H1 = Bottleneck(c1, c2, k, hidden)
        self.H2 = Bottleneck(c2, c1, k, hidden)

    def _scale(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.clamp * (torch.sigmoid(t) * 2 - 1))

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        a, b = x[:, : self.c1], x[:, self.c1 :]
        if not rev:
            a = a * self._scale(self.G2(b)) + self.H2(b)
            b = b * self._scale(self.G1(a)) + self.H1(a)
        else:
            b = (b - self.H1(a)) / self._scale(self.G1(a))
            a = (a - self.H2(b)) / self._scale(self.G2(b))
        return torch.cat([a, b], dim=1)


def quality_features(q, x: torch.Tensor) -> torch.Tensor:
    """The quality map at `x`'s resolution: pooled from a map tensor, or filled from a float."""
    if torch.is_tensor(q) and q.dim() == 4:
        return F.adaptive_avg_pool2d(q.to(x), x.shape[-2:])
    return torch.full((x.shape[0], 1, *x.shape[-2:]), float(q), dtype=x.dtype, device=x.device)


class IAT(nn.Module):
    """Invertible activation transformation: x * (1 + gamma(q)) + beta(q), undone exactly."""

    def __init__(self, x_nc: int, nhidden: int, ks: int = 3):
        super().__init__()
        pad = ks // 2
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(1, nhidden, ks, padding=pad),
            _lrelu(),
            nn.Conv2d(nhidden, nhidden, 1),
            _lrelu(),
        )
        self.mlp_gamma = nn.Sequential(
            nn.Conv2d(nhidden, x_nc, ks, padding=pad), _lrelu(), nn.Conv2d(x_nc, x_nc, 1)
        )
        self.mlp_beta = nn.Sequential(
            nn.Conv2d(nhidden, x_nc, ks, padding=pad), _lrelu(), nn.Conv2d(x_nc, x_nc, 1)
        )

    def forward(self, x: torch.Tensor, q, reverse: bool = False) -> torch.Tensor:
        actv = self.mlp_shared(quality_features(q, x))
        gamma, beta = self.mlp_gamma(actv), self.mlp_beta(actv)
        return (x - beta) / (1 + gamma) if reverse else x * (1 + gamma) + beta


class InvComp(nn.Module):
    """The four-level invertible transform between the image (3 ch) and the latent (M ch).

    After the fourth squeeze the 768 channels are averaged in 768 / M groups to M channels; the
    reverse pass tiles them back (the one non-invertible step; the coupling layers learn to
    live with it). The official code sizes the last IAT as 768 // 4, which is M at the official
    M = 192; here it is M, so reduced latents work.
    """

    def __init__(self, M: int, couplings: int = 3, hidden=None, iat_hidden=None):
        super().__init__()
        if 768 % M:
            raise ValueError(f"Cai2022 needs M dividing 768 (the INN's last width), not {M}")
        self.M = M
        for level, (c, k) in enumerate(zip(INN_CHANNELS, KERNELS, strict=True), start=1):
            ops = [Squeeze(), InvertibleConv1x1(c)]
            ops += [CouplingLayer(c // 4, 3 * c // 4, k, hidden) for _ in range(couplings)]
            setattr(self, f"operations{level}", nn.ModuleList(ops))
            x_nc = M if level == 4 else c
            setattr(self, f"SFTlevel_{level}", IAT(x_nc, iat_hidden or 2 * x_nc))

    def forward(self, x: torch.Tensor, q, rev: bool = False) -> torch.Tensor:
        if not rev:
            for level in range(1, 5):
                for op in getattr(self, f"operations{level}"):
                    x = op(x, False)
                if level == 4:
                    b, c, h, w = x.shape
                    x = x.reshape(b, c // self.M, self.M, h, w).mean(dim=1)
                x = getattr(self, f"SFTlevel_{level}")(x, q, reverse=False)
            return x
        for level in range(4, 0, -1):
            x = getattr(self, f"SFTlevel_{level}")(x, q, reverse=True)
            if level == 4:
                x = x.repeat(1, INN_CHANNELS[-1] // self.M, 1, 1)
            for op in reversed(getattr(self, f"operations{level}")):
                x = op(x, True)
        return x


# -- enhancement blocks -----------------------------------------------------------------------


class DenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions (RRDB-style); the output conv starts at zero."""

    def __init__(self, cin: int, cout: int, gc: int = 32):
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(cin + (i - 1) * gc, gc, 3, padding=1))
        self.conv5 = nn.Conv2d(cin + 4 * gc, cout, 3, padding=1)
        _init_scaled_xavier([self.conv1, self.conv2, self.conv3, self.conv4], 0.1)
        _init_zero(self.conv5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1))


class EnhBlock(nn.Module):
    """Residual pixel-domain enhancement: x + 0.2 * f(x)."""

    def __init__(self, nf: int, gc: int = 32):
        super().__init__()
        self.layers = nn.Sequential(
            DenseBlock(3, nf, gc),
            nn.Conv2d(nf, nf, 1),
            nn.Conv2d(nf, nf, 3, padding=1),
            nn.Conv2d(nf, nf, 1),
            DenseBlock(nf, 3, gc),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x) * 0.2


class EnhModule(nn.Module):
    """Separate enhancement blocks before the encoder and after the decoder (not inverses)."""

    def __init__(self, nf: int, gc: int = 32):
        super().__init__()
        self.forw_enh = EnhBlock(nf, gc)
        self.back_enh = EnhBlock(nf, gc)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        return self.back_enh(x) if rev else self.forw_enh(x)


# -- the codec --------------------------------------------------------------------------------


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1)


def _subpel3x3(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))


class Cai2022(CompressionModel):
    """HiFi-VRIC (official N = M = 192). `s` is the quality: a float in [0, 1] or a map.

    The decoder needs `s` too: the IATs of the synthesis are driven by the same quality map.
    The official context model is MaskedConv2d(N, 2N) applied to y_hat (M channels); here it is
    MaskedConv2d(M, 2M), the same at the official N = M.
    """

    def __init__(
        self, N=192, M=192, enh_nf=64, enh_gc=32, couplings=3, inn_hidden=None, iat_hidden=None
    ):
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.inv = InvComp(M, couplings, inn_hidden, iat_hidden)
        self.enh = EnhModule(enh_nf, enh_gc)
        act = nn.LeakyReLU(inplace=True)
        self.h_a = nn.Sequential(
            _conv3x3(M, M), act, _conv3x3(M, M), act, _conv3x3(M, M, 2), act,
            _conv3x3(M, M), act, _conv3x3(M, N, 2),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            _conv3x3(N, M), act, _subpel3x3(M, M), act, _conv3x3(M, M), act,
            _subpel3x3(M, M), act, _conv3x3(M, 2 * M),
        )  # fmt: skip
        self.context_prediction = MaskedConv2d(M, 2 * M, kernel_size=5, padding=2, stride=1)
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(M * 12 // 3, M * 10 // 3, 1), act,
            nn.Conv2d(M * 10 // 3, M * 8 // 3, 1), act,
            nn.Conv2d(M * 8 // 3, M * 6 // 3, 1),
        )  # fmt: skip
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # -- transforms ---------------------------------------------------------------------------
    def g_a(self, x: torch.Tensor, s) -> torch.Tensor:
        return self.inv(self.enh(x), s)

    def g_s(self, y_hat: torch.Tensor, s) -> torch.Tensor:
        return self.enh(self.inv(y_hat, s, rev=True), rev=True)

    @staticmethod
    def _as_map(s, x: torch.Tensor):
        """Keep maps as given (each IAT pools them); floats stay floats (filled per layer)."""
        return s.to(x) if torch.is_tensor(s) and s.dim() == 4 else float(s)

    def _gaussian_params(self, params: torch.Tensor, y_hat: torch.Tensor):
        ctx = self.context_prediction(y_hat)
        scales, means = self.entropy_parameters(torch.cat([params, ctx], dim=1)).chunk(2, 1)
        return scales, means

    # -- CompressAI contract ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, s) -> dict:
        s = self._as_map(s, x)
        y = self.g_a(x, s)
        z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(y))
        params = self.h_s(z_hat)
        gc = self.gaussian_conditional
        if self.training:  # the official training path: noisy y for context, synthesis, rate
            y_hat = gc.quantize(y, "noise")
            scales, means = self._gaussian_params(params, y_hat)
            _, y_likelihoods = gc(y, scales, means=means)
        else:
            # Rounding through the entropy model's own quantize, so quantization_proxy covers it.
            y_hat = gc.quantize(y, "dequantize")
            scales, means = self._gaussian_params(params, y_hat)
            centre = means + (torch.round(means) - means).detach()  # the coder's integer centre
            y_likelihoods = gc._likelihood(y_hat, scales, centre)
            if gc.use_likelihood_bound:
                y_likelihoods = gc.likelihood_lower_bound(y_likelihoods)
        x_hat = self.g_s(y_hat, s)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor, s) -> dict:
        s = self._as_map(s, x)
        y = self.g_a(x, s)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        params = self.h_s(z_hat)
        y_strings = [self._code_latent(y[i : i + 1], params[i : i + 1]) for i in range(len(y))]
        return {"strings": [y_strings, z_strings], "shape": z.shape[-2:]}

    def decompress(self, strings, shape, s) -> dict:
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        params = self.h_s(z_hat)
        y_hat = torch.cat(
            [
                self._code_latent(None, params[i : i + 1], string)
                for i, string in enumerate(strings[0])
            ]
        )
        x_like = torch.empty(len(y_hat), 3, shape[0] * 64, shape[1] * 64)
        return {"x_hat": self.g_s(y_hat, self._as_map(s, x_like)).clamp_(0, 1)}

    # -- serial context coding ----------------------------------------------------------------
    def _code_latent(self, y, params, string: bytes | None = None):
        """Code one image's latent in raster order (encode if `y` is given, else decode).

        One function walks both directions so encoder and decoder compute every context, mean
        and scale with identical arithmetic: the coder's integers must agree bit for bit.
        Returns the string when encoding, the decoded round(y) when decoding.
        """
        gc = self.gaussian_conditional
        cdf, lengths = to_python(gc.quantized_cdf), to_python(gc.cdf_length)
        offsets = to_python(gc.offset)
        h, w = params.shape[-2:]
        buf = params.new_zeros(1, self.M, h + 4, w + 4)  # decoded y_hat, padded for the 5x5 mask
        weight = self.context_prediction.weight * self.context_prediction.mask
        bias = self.context_prediction.bias
        if string is None:
            rounded = torch.round(y)
            encoder, symbols, indexes = BufferedRansEncoder(), [], []
        else:
            decoder = RansDecoder()
            decoder.set_stream(string)
        for i in range(h):
            for j in range(w):
                ctx = F.conv2d(buf[:, :, i : i + 5, j : j + 5], weight, bias)
                p = self.entropy_parameters(torch.cat([params[:, :, i : i + 1, j : j + 1], ctx], 1))
                scales, means = p.chunk(2, 1)
                idx = to_python(gc.build_indexes(scales).flatten())
                centre = torch.round(means).flatten()
                if string is None:
                    value = rounded[0, :, i, j]
                    symbols += to_python((value - centre).int())
                    indexes += idx
                else:
                    sym = decoder.decode_stream(idx, cdf, lengths, offsets)
                    value = torch.tensor(sym, dtype=buf.dtype) + centre
                buf[0, :, i + 2, j + 2] = value
        if string is None:
            encoder.encode_with_indexes(symbols, indexes, cdf, lengths, offsets)
            return encoder.flush()
        return buf[:, :, 2:-2, 2:-2]


# -- official checkpoints ------------------------------------------------------------------------


def official_key_map(state_dict: dict) -> dict:
    """Rename an official HiFi-VRIC snapshot's keys to this module's.

    Accepts the whole snapshot (`{"itr", "model", ...}`) or its `model` entry. HiFi-VRIC pins
    CompressAI 1.1.8, whose entropy bottleneck names its density parameters `_matrix{i}`,
    `_bias{i}`, `_factor{i}`; CompressAI 1.2 uses `matrices.i`, `biases.i`, `factors.i`. A
    DataParallel `module.` prefix is dropped. Every other name is the official one.
    """
    if "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    renamed = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        head, _, leaf = key.rpartition(".")
        if head == "entropy_bottleneck":
            for old, new in (("_matrix", "matrices"), ("_bias", "biases"), ("_factor", "factors")):
                if leaf.startswith(old) and leaf[len(old) :].isdigit():
                    key = f"{head}.{new}.{leaf[len(old) :]}"
        renamed[key] = value
    return renamed


def widths_from_state_dict(state_dict: dict) -> dict:
    """Read the widths off the tensors' shapes (official snapshots give the official widths)."""
    sd = state_dict
    M = sd["entropy_parameters.4.weight"].shape[0] // 2
    couplings = len({k.split(".")[2] for k in sd if k.startswith("inv.operations1.")}) - 1
    g1 = sd["inv.operations4.2.G1.conv1.weight"].shape[0]
    iat = sd["inv.SFTlevel_1.mlp_shared.0.weight"].shape[0]
    return {
        "N": int(sd["entropy_bottleneck.quantiles"].shape[0]),
        "M": int(M),
        "enh_nf": int(sd["enh.forw_enh.layers.1.weight"].shape[0]),
        "enh_gc": int(sd["enh.forw_enh.layers.0.conv1.weight"].shape[0]),
        "couplings": couplings,
        "inn_hidden": None if g1 == 3 * INN_CHANNELS[-1] // 4 else int(g1),
        "iat_hidden": None if iat == 2 * INN_CHANNELS[0] else int(iat),
    }


from_state_dict = loader_from_file_widths(Cai2022, official_key_map, widths_from_state_dict)


register_architecture(
    Architecture(
        name="cai2022",
        make=Cai2022,
        official_widths=lambda quality: dict(OFFICIAL),
        variable_rate=True,
        pretrained_url=None,  # the official repository publishes no weights
        from_state_dict=from_state_dict,
        source="Cai2022: HiFi-VRIC, invertible activation transformation (CaiShilv/HiFi-VRIC)",
        pad_multiple=64,
        widths_keys=tuple(OFFICIAL),
        level=qmap_level,
        rd_lambda=qmap_rd_lambda,
        memory_format=torch.channels_last,  # a training and an attack step 1.25-1.34x faster on one CPU thread
    )
)
