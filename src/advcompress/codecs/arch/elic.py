"""ELIC (He et al., CVPR 2022): unevenly grouped space-channel context model.

Written for this project after reading the public re-implementation that the classifier-defense
paper uses (github.com/VincentChandelier/ELiC-ReImplemetation, `Network.py`, class `TestModel`).
Parameter names and shapes follow that code so its released checkpoints load with `strict=True`
(see `official_key_map` for the two wrappers those files may carry).

How the latent is coded, and why it is fast: the latent y (M channels) is split into five channel
groups of growing size (16, 16, 32, 64, 192 at M=320). Each group is coded in two checkerboard
passes: the "anchor" half first, from the hyperprior and the channel context only, then the
"non-anchor" half, which also sees its four decoded anchor neighbours through a masked 5x5
convolution. The channel context of group k is a small CNN on the first group and on group k-1
(not on all earlier groups: a simplification the re-implementation made and we keep, since the
checkpoints depend on it).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import AttentionBlock, CheckerboardMaskedConv2d, conv1x1, conv3x3
from compressai.models import CompressionModel
from compressai.models.utils import conv, deconv
from compressai.ops import quantize_ste

from advcompress.codecs.learned import Architecture, loader_from_file_widths, register_architecture
from advcompress.device import to_python

OFFICIAL_GROUPS = (16, 16, 32, 64, 192)
OFFICIAL_M = 320

# Registry quality -> the re-implementation's released files, lowest rate first.
CHECKPOINTS = {
    1: "ELIC_0004_ft_3980_Plateau.pth.tar",
    2: "ELIC_0008_ft_3980_Plateau.pth.tar",
    3: "ELIC_0016_ft_3980_Plateau.pth.tar",
    4: "ELIC_0032_ft_3980_Plateau.pth.tar",
    5: "ELIC_0150_ft_3980_Plateau.pth.tar",
    6: "ELIC_0450_ft_3980_Plateau.pth.tar",
}


def scaled_groups(M: int) -> tuple[int, ...]:
    """The official uneven split (1:1:2:4:12 of 320) scaled to M channels.

    Reduced-width models keep the shape of the split, so the small default-tier model still
    codes a few cheap leading channels first and leaves most channels to the richest context.
    """
    if M == OFFICIAL_M:
        return OFFICIAL_GROUPS
    head = [max(1, round(M * g / OFFICIAL_M)) for g in OFFICIAL_GROUPS[:-1]]
    last = M - sum(head)
    if last < 1:
        raise ValueError(f"M={M} is too small for five channel groups")
    return (*head, last)


class ResidualBottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 residual block at half width (ELIC's cheap replacement for GDN)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = conv1x1(ch, ch // 2)
        self.conv2 = conv3x3(ch // 2, ch // 2)
        self.conv3 = conv1x1(ch // 2, ch)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))


def _blocks(ch: int, n: int) -> list[nn.Module]:
    return [ResidualBottleneck(ch) for _ in range(n)]


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """1 on the anchor half of the checkerboard: (even, even) and (odd, odd) positions."""
    ii = torch.arange(h, device=device)[:, None]
    jj = torch.arange(w, device=device)[None, :]
    return ((ii + jj) % 2 == 0).float()[None, None]


class ELIC(CompressionModel):
    """ELIC with the module names of the ELiC re-implementation.

    Args:
        N: channels of the transforms and of the hyperprior.
        M: latent channels; split into `groups` (default: the official split scaled to M).
        cc_hidden: hidden widths of each channel-context CNN (official: 224, 128).
        ep_hidden: width of the second layer of each parameter-aggregation MLP (official: 512;
            the first layer is 2M wide, as in the re-implementation).
        res_blocks: residual bottleneck blocks per stage of g_a and g_s (official: 3).
    """

    def __init__(
        self,
        N: int = 192,
        M: int = 320,
        groups: tuple[int, ...] | None = None,
        cc_hidden: tuple[int, int] = (224, 128),
        ep_hidden: int = 512,
        res_blocks: int = 3,
    ):
        super().__init__()
        groups = tuple(int(g) for g in (groups or scaled_groups(M)))
        if sum(groups) != M:
            raise ValueError(f"groups {groups} do not add up to M={M}")
        self.N, self.M, self.groups = int(N), int(M), groups
        h1, h2 = cc_hidden
        r = res_blocks

        self.g_a = nn.Sequential(
            conv(3, N), *_blocks(N, r),
            conv(N, N), *_blocks(N, r), AttentionBlock(N),
            conv(N, N), *_blocks(N, r),
            conv(N, M), AttentionBlock(M),
        )  # fmt: skip
        self.g_s = nn.Sequential(
            AttentionBlock(M), deconv(M, N), *_blocks(N, r),
            deconv(N, N), AttentionBlock(N), *_blocks(N, r),
            deconv(N, N), *_blocks(N, r),
            deconv(N, 3),
        )  # fmt: skip
        self.h_a = nn.Sequential(
            conv3x3(M, N), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True),
            conv(N, N),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            deconv(N, N), nn.ReLU(inplace=True),
            deconv(N, N * 3 // 2), nn.ReLU(inplace=True),
            conv3x3(N * 3 // 2, 2 * M),
        )  # fmt: skip

        # Channel context for groups 1.. : input is group 0, plus group k-1 from k = 2 on.
        self.cc_transforms = nn.ModuleList(
            nn.Sequential(
                conv(groups[0] + (k > 1) * groups[k - 1], h1, kernel_size=5, stride=1),
                nn.ReLU(inplace=True),
                conv(h1, h2, kernel_size=5, stride=1),
                nn.ReLU(inplace=True),
                conv(h2, 2 * groups[k], kernel_size=5, stride=1),
            )
            for k in range(1, len(groups))
        )
        # Spatial context: non-anchors see the decoded anchors of their own group.
        self.context_prediction = nn.ModuleList(
            CheckerboardMaskedConv2d(g, 2 * g, kernel_size=5, padding=2, stride=1, mask_type="A")
            for g in groups
        )
        # Mean and scale of group k from [spatial ctx, channel ctx (k > 0), hyperprior].
        self.ParamAggregation = nn.ModuleList(
            nn.Sequential(
                conv1x1(2 * g + (k > 0) * 2 * g + 2 * M, 2 * M),
                nn.ReLU(inplace=True),
                conv1x1(2 * M, ep_hidden),
                nn.ReLU(inplace=True),
                conv1x1(ep_hidden, 2 * g),
            )
            for k, g in enumerate(groups)
        )
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    @property
    def downsampling_factor(self) -> int:
        return 64

    # -- shared pieces ----------------------------------------------------------------------
    def _quantize(self, y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Latent fed to the context models and to g_s.

        Training uses straight-through rounding around the mean, as the re-implementation does.
        Evaluation goes through the entropy model's own "dequantize" rounding, so that
        `quantization_proxy` (which patches exactly that call) gives gradients to the input.
        """
        if self.training:
            return quantize_ste(y - means) + means
        return self.gaussian_conditional.quantize(y, "dequantize", means)

    def _support(self, k: int, y_hat: list[torch.Tensor], hyper: torch.Tensor) -> torch.Tensor:
        """Everything group k is conditioned on except its own spatial context."""
        if k == 0:
            return hyper
        ctx = y_hat[0] if k == 1 else torch.cat([y_hat[0], y_hat[k - 1]], dim=1)
        return torch.cat([self.cc_transforms[k - 1](ctx), hyper], dim=1)

    def _params(self, k: int, spatial: torch.Tensor, support: torch.Tensor):
        means, scales = self.ParamAggregation[k](torch.cat([spatial, support], dim=1)).chunk(2, 1)
        return means, scales

    def _hyper(self, z_hat: torch.Tensor) -> torch.Tensor:
        # h_s emits [means, scales] of the hyperprior; both go to every group as they are.
        return self.h_s(z_hat)

    # -- differentiable path ----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.training:  # noisy z for the rate, rounded z (straight-through) for h_s
            medians = self.entropy_bottleneck._get_medians()
            z_hat = quantize_ste(z - medians) + medians
        hyper = self._hyper(z_hat)

        a = anchor_mask(*y.shape[-2:], device=y.device)
        na = 1.0 - a
        y_hat, likelihoods = [], []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            support = self._support(k, y_hat, hyper)
            zeros = y_k.new_zeros(y_k.shape[0], 2 * y_k.shape[1], *y_k.shape[2:])
            mean_a, scale_a = self._params(k, zeros, support)
            anchors = self._quantize(y_k, mean_a) * a
            mean_n, scale_n = self._params(k, self.context_prediction[k](anchors), support)
            non_anchors = self._quantize(y_k, mean_n) * na
            means = mean_a * a + mean_n * na
            scales = scale_a * a + scale_n * na
            _, lik = self.gaussian_conditional(y_k, scales, means=means)
            y_hat.append(anchors + non_anchors)
            likelihoods.append(lik)
        x_hat = self.g_s(torch.cat(y_hat, dim=1))
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    # -- real coding ------------------------------------------------------------------------
    def _coder_tables(self):
        gc = self.gaussian_conditional
        return (
            to_python(gc.quantized_cdf),
            to_python(gc.cdf_length.reshape(-1).int()),
            to_python(gc.offset.reshape(-1).int()),
        )

    def _code_half(self, k, spatial, support, mask, y_k=None, encoders=None, decoders=None):
        """Encode (y_k given) or decode one checkerboard half of group k; returns its y_hat.

        The half is gathered into a (B, C, H*W/2) tensor in a fixed order, so that encoder and
        decoder walk the same symbols with the same Gaussian indexes.
        """
        means, scales = self._params(k, spatial, support)
        sel = mask[0, 0].bool()
        means_h, scales_h = means[..., sel], scales[..., sel]
        indexes = self.gaussian_conditional.build_indexes(scales_h)
        cdf, lengths, offsets = self._coder_tables()
        if encoders is not None:
            symbols = self.gaussian_conditional.quantize(y_k[..., sel], "symbols", means_h)
            for b, enc in enumerate(encoders):
                enc.encode_with_indexes(
                    to_python(symbols[b].reshape(-1)), to_python(indexes[b].reshape(-1)),
                    cdf, lengths, offsets,
                )  # fmt: skip
        else:
            decoded = [
                torch.tensor(
                    dec.decode_stream(to_python(indexes[b].reshape(-1)), cdf, lengths, offsets)
                )
                for b, dec in enumerate(decoders)
            ]
            symbols = torch.stack(decoded).reshape(means_h.shape).to(means.device)
        values = self.gaussian_conditional.dequantize(symbols, means_h)
        out = torch.zeros_like(means)
        out[..., sel] = values
        return out

    def _code_latent(self, hyper, y=None, encoders=None, decoders=None):
        h, w = hyper.shape[-2:]
        a = anchor_mask(h, w, device=hyper.device)
        y_parts = y.split(self.groups, dim=1) if y is not None else [None] * len(self.groups)
        y_hat = []
        for k, g in enumerate(self.groups):
            support = self._support(k, y_hat, hyper)
            zeros = hyper.new_zeros(hyper.shape[0], 2 * g, h, w)
            anchors = self._code_half(k, zeros, support, a, y_parts[k], encoders, decoders)
            ctx = self.context_prediction[k](anchors)
            non_anchors = self._code_half(k, ctx, support, 1 - a, y_parts[k], encoders, decoders)
            y_hat.append(anchors + non_anchors)
        return torch.cat(y_hat, dim=1)

    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        encoders = [BufferedRansEncoder() for _ in range(x.shape[0])]
        self._code_latent(self._hyper(z_hat), y=y, encoders=encoders)
        y_strings = [enc.flush() for enc in encoders]
        return {"strings": [y_strings, z_strings], "shape": z.shape[-2:]}

    def decompress(self, strings: list, shape) -> dict:
        y_strings, z_strings = strings
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        decoders = []
        for s in y_strings:
            dec = RansDecoder()
            dec.set_stream(s)
            decoders.append(dec)
        y_hat = self._code_latent(self._hyper(z_hat), decoders=decoders)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1)}


def official_key_map(state_dict: dict) -> dict:
    """Make a released ELiC re-implementation file load into `ELIC` with strict=True.

    The files are either a bare state dict (after the repository's `updata.py`) or a training
    checkpoint {"state_dict": ..., "epoch": ...}, possibly saved from `nn.DataParallel`
    ("module." prefixes). Module names themselves already match. Old CompressAI (< 1.2)
    entropy-bottleneck names (`_matrix0`, `_bias0`, `_factor0`) are renamed by CompressAI's
    own `CompressionModel.load_state_dict`, so they are left as they are here.
    """
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def official_widths(quality: int) -> dict:
    if int(quality) not in CHECKPOINTS:
        raise ValueError(f"elic has qualities 1..6 (checkpoints {list(CHECKPOINTS.values())})")
    return {"N": 192, "M": 320}


def widths_from_state_dict(state: dict) -> dict:
    """ELIC's widths read off a file's tensor shapes, so that a file of any width (the official
    192/320, or a narrower one) loads through the same path."""
    state = official_key_map(state)
    groups = []
    while f"context_prediction.{len(groups)}.weight" in state:
        groups.append(state[f"context_prediction.{len(groups)}.weight"].shape[1])
    stage_blocks = sum(1 for k in state if re.fullmatch(r"g_a\.\d+\.conv1\.weight", k))  # 3 stages
    widths = {
        "N": state["g_a.0.weight"].shape[0],
        "M": state["h_a.0.weight"].shape[1],
        "groups": groups,
        "ep_hidden": state["ParamAggregation.0.2.weight"].shape[0],
        "res_blocks": stage_blocks // 3,
    }
    if len(groups) > 1:  # one group has no channel context
        widths["cc_hidden"] = [state["cc_transforms.0.0.weight"].shape[0], state["cc_transforms.0.2.weight"].shape[0]]
    return widths


from_state_dict = loader_from_file_widths(ELIC, official_key_map, widths_from_state_dict)


ARCH = register_architecture(
    Architecture(
        name="elic",
        make=ELIC,
        official_widths=official_widths,
        variable_rate=False,
        pretrained_url=None,  # released on Google Drive only, no direct URL; see docs/codecs/elic.md
        from_state_dict=from_state_dict,
        source="ELIC, He et al. 2022 (ELiC-ReImplemetation module names)",
        pad_multiple=64,
        widths_keys=("N", "M", "groups", "cc_hidden", "ep_hidden", "res_blocks"),
    )
)
