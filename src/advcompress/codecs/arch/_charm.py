"""Minnen & Singh's channel-wise autoregressive entropy model (ChARM), shared by STF and TCM.

D. Minnen, S. Singh, "Channel-wise autoregressive entropy models for learned image
compression", ICIP 2020. A mean/scale hyperprior predicts the latent y in slices along the
channels; each slice's mean and scale networks (`cc_mean_transforms`, `cc_scale_transforms`)
see the hyperprior's means (scales) and up to `max_support_slices` earlier decoded slices, and a
latent residual prediction (`lrp_transforms`) corrects part of each slice's quantisation error.

Zou2022 STF and Liu2023 TCM use this model unchanged around different transforms (TCM passes
the supports through SWAtten first, via `_supports`), with the same module names and the same
bitstream layout (one rANS string for all y slices, one for z). It lives here once so that the
two stay identical; the leading underscore keeps the registry from importing it as a codec.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.models import CompressionModel

from advcompress.device import to_python


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass (straight-through)."""
    return x + (torch.round(x) - x).detach()


def context_net(cin: int, hidden: tuple[int, ...], cout: int) -> nn.Sequential:
    """3x3 convs with GELU between them: the per-slice mean, scale and LRP networks."""
    widths = [cin, *hidden, cout]
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Conv2d(a, b, kernel_size=3, stride=1, padding=1), nn.GELU()]
    return nn.Sequential(*layers[:-1])


class ChannelwiseContextModel(CompressionModel):
    """The ChARM entropy model and the CompressAI contract around it.

    A subclass provides the transforms `g_a`, `g_s`, `h_a`, `h_mean_s`, `h_scale_s` (y at 1/16
    and z at 1/64 of the image size) and calls `_init_context_model` at the end of `__init__`,
    which adds the slice networks and the entropy models (in the official key order).
    """

    def _init_context_model(
        self, M: int, Z: int, num_slices: int, max_support_slices: int, cc_hidden: tuple[int, ...]
    ) -> None:
        """The slice networks for an M-channel y in `num_slices` slices, and the entropy models."""
        self.num_slices, self.max_support_slices = num_slices, max_support_slices
        S, k = M // num_slices, max_support_slices
        self.cc_mean_transforms = nn.ModuleList(
            context_net(M + S * min(i, k), cc_hidden, S) for i in range(num_slices)
        )
        self.cc_scale_transforms = nn.ModuleList(
            context_net(M + S * min(i, k), cc_hidden, S) for i in range(num_slices)
        )
        self.lrp_transforms = nn.ModuleList(
            context_net(M + S * min(i + 1, k + 1), cc_hidden, S) for i in range(num_slices)
        )
        self.entropy_bottleneck = EntropyBottleneck(Z)
        self.gaussian_conditional = GaussianConditional(None)

    # -- entropy model pieces ---------------------------------------------------------------
    def _round(self, em, x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Quantise around `means` for the decoder path.

        Training uses straight-through rounding as the official code. In eval mode the entropy
        model's own `quantize(..., "dequantize")` rounds, so `quantization_proxy` can replace it.
        """
        if self.training:
            return ste_round(x - means) + means
        return em.quantize(x, "dequantize", means)

    def _supports(self, i, mean_support, scale_support):
        """Hook on slice i's mean and scale supports (hyperprior + earlier slices); identity here."""
        return mean_support, scale_support

    def _slice_params(self, i, latent_means, latent_scales, decoded):
        """Mean and scale of slice i, and the mean support its LRP sees too."""
        support = decoded[: self.max_support_slices] if self.max_support_slices >= 0 else decoded
        mean_support, scale_support = self._supports(
            i, torch.cat([latent_means, *support], dim=1), torch.cat([latent_scales, *support], dim=1)
        )
        mu = self.cc_mean_transforms[i](mean_support)
        scale = self.cc_scale_transforms[i](scale_support)
        return mu, scale, mean_support

    def _refine(self, i, mean_support, y_hat_slice):
        """Latent residual prediction: correct part of the quantisation error from the context."""
        lrp = self.lrp_transforms[i](torch.cat([mean_support, y_hat_slice], dim=1))
        return y_hat_slice + 0.5 * torch.tanh(lrp)

    def _tables(self):
        gc = self.gaussian_conditional
        return (
            to_python(gc.quantized_cdf),
            to_python(gc.cdf_length.reshape(-1).int()),
            to_python(gc.offset.reshape(-1).int()),
        )

    # -- CompressAI contract ----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        z_hat = self._round(self.entropy_bottleneck, z, self.entropy_bottleneck._get_medians())
        latent_means, latent_scales = self.h_mean_s(z_hat), self.h_scale_s(z_hat)

        decoded, likelihoods = [], []
        for i, y_slice in enumerate(y.chunk(self.num_slices, 1)):
            mu, scale, mean_support = self._slice_params(i, latent_means, latent_scales, decoded)
            _, lik = self.gaussian_conditional(y_slice, scale, mu)
            likelihoods.append(lik)
            y_hat_slice = self._round(self.gaussian_conditional, y_slice, mu)
            decoded.append(self._refine(i, mean_support, y_hat_slice))
        x_hat = self.g_s(torch.cat(decoded, dim=1))
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    def compress(self, x: torch.Tensor) -> dict:
        """One rANS string for all y slices (the official layout), one for z; batch size 1."""
        if x.shape[0] != 1:
            raise ValueError(f"{type(self).__name__}.compress codes one image at a time")
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        latent_means, latent_scales = self.h_mean_s(z_hat), self.h_scale_s(z_hat)

        gc = self.gaussian_conditional
        symbols, indexes, decoded = [], [], []
        for i, y_slice in enumerate(y.chunk(self.num_slices, 1)):
            mu, scale, mean_support = self._slice_params(i, latent_means, latent_scales, decoded)
            q = gc.quantize(y_slice, "symbols", mu)
            symbols += to_python(q.reshape(-1))
            indexes += to_python(gc.build_indexes(scale).reshape(-1))
            decoded.append(self._refine(i, mean_support, gc.dequantize(q, mu)))
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, *self._tables())
        return {"strings": [[encoder.flush()], z_strings], "shape": z.shape[-2:]}

    def decompress(self, strings, shape) -> dict:
        if len(strings) != 2 or len(strings[0]) != 1:
            raise ValueError(f"{type(self).__name__}.decompress expects [[y_string], [z_string]] for one image")
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        latent_means, latent_scales = self.h_mean_s(z_hat), self.h_scale_s(z_hat)
        h, w = 4 * z_hat.shape[2], 4 * z_hat.shape[3]

        gc = self.gaussian_conditional
        tables = self._tables()
        decoder = RansDecoder()
        decoder.set_stream(strings[0][0])
        decoded = []
        for i in range(self.num_slices):
            mu, scale, mean_support = self._slice_params(i, latent_means, latent_scales, decoded)
            index = to_python(gc.build_indexes(scale).reshape(-1))
            q = torch.tensor(decoder.decode_stream(index, *tables), dtype=torch.int32)
            q = q.reshape(1, -1, h, w).to(mu.device)
            decoded.append(self._refine(i, mean_support, gc.dequantize(q, mu)))
        return {"x_hat": self.g_s(torch.cat(decoded, dim=1)).clamp_(0, 1)}
