"""Compression defenses as preprocessing chains, each with a real path and a differentiable proxy.

A defense spec (`advcompress.classify.defense_spec`) is a chain of codec steps. The real path
codes every image to bytes and back through the codec registry (what is reported); the proxy is what a gradient-through (BPDA) attack sees: the
learned codec's forward with straight-through rounding, or kornia's differentiable JPEG.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn

from advcompress.classify.defense_spec import Step, defense_codecs, parse_defense  # noqa: F401
from advcompress.codecs import Codec


class JpegProxy(nn.Module):
    """kornia's differentiable JPEG standing in for the real one (same quality, 4:2:0)."""

    def __init__(self, quality: float):
        super().__init__()
        self.quality = float(quality)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from kornia.enhance import jpeg_codec_differentiable

        q = torch.tensor([self.quality], device=x.device, dtype=x.dtype)
        return jpeg_codec_differentiable(x, q).clamp(0, 1)


class LearnedProxy(nn.Module):
    """A learned codec's differentiable forward (eval mode, straight-through rounding)."""

    def __init__(self, codec, proxy: str = "ste"):
        super().__init__()
        self.codec = codec
        self.net = codec.net  # registered, so .eval()/.to() and torchattacks' device lookup see it
        self.proxy = proxy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.codec.forward(x, proxy=self.proxy)["x_hat"].clamp(0, 1)


class Defense:
    """A chain of real codecs; `apply` codes each image for real, `proxy()` is differentiable."""

    def __init__(self, spec: str, make_codec: Callable[[str, str], Codec]):
        self.spec = spec
        self.steps = parse_defense(spec)
        self.codecs = {s.key: make_codec(s.codec, s.quality) for s in self.steps}

    @property
    def is_identity(self) -> bool:
        return not self.steps

    @torch.no_grad()
    def apply_one(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """One image (1x3xHxW) through every round of every step, by real bytes.

        Returns the decoded image and the rate of the last bitstream (what a receiver stores)
        plus the bytes summed over all rounds; a coding failure gives NaN rates and an error.
        """
        info = {"bpp_actual": math.nan, "bpp_total": 0.0, "error": ""}
        if self.is_identity:
            info.update(bpp_actual=math.nan, bpp_total=math.nan)
            return x, info
        device = x.device
        for step in self.steps:
            codec = self.codecs[step.key]
            cdev = next(codec.parameters()).device if codec.differentiable else "cpu"
            for _ in range(step.rounds):
                try:
                    bs = codec.compress(x.to(cdev))
                    x = codec.decompress(bs).clamp(0, 1)
                except Exception as e:  # an entropy coder can fail on extreme latents: record it
                    info.update(bpp_actual=math.nan, bpp_total=math.nan, error=f"{type(e).__name__}: {e}"[:200])
                    return torch.full_like(x, math.nan).to(device), info
                info["bpp_actual"] = bs.bpp()
                info["bpp_total"] += bs.bpp()
        return x.to(device), info

    @torch.no_grad()
    def apply(self, x: torch.Tensor, batch_size: int = 64) -> tuple[torch.Tensor, list[dict]]:
        """Every image through the chain by real bytes, as `apply_one` codes it, per-image rates.

        Learned codecs code `batch_size` images per call (the networks run batched; every image
        still gets its own bitstream, whose bytes give its rate): one image at a time, their
        per-call cost made the 300-digit tables take minutes per defense.
        """
        n = len(x)
        infos = [{"bpp_actual": math.nan, "bpp_total": 0.0, "error": ""} for _ in range(n)]
        if self.is_identity:
            for info in infos:
                info.update(bpp_total=math.nan)
            return x, infos
        out = x.clone()
        for step in self.steps:
            codec = self.codecs[step.key]
            for _ in range(step.rounds):
                ok = [i for i in range(n) if not infos[i]["error"]]
                for j in range(0, len(ok), batch_size):
                    idx = ok[j : j + batch_size]
                    x_hat, coded = code_batch(codec, out[idx])
                    out[idx] = x_hat.to(out.device)
                    for i, (bpp, err) in zip(idx, coded, strict=True):
                        if err:
                            infos[i].update(bpp_actual=math.nan, bpp_total=math.nan, error=err)
                        else:
                            infos[i]["bpp_actual"] = bpp
                            infos[i]["bpp_total"] += bpp
        return out, infos

    def proxy(self) -> nn.Module:
        """The differentiable stand-in of the whole chain (identity for `none`)."""
        mods: list[nn.Module] = []
        for step in self.steps:
            codec = self.codecs[step.key]
            one = LearnedProxy(codec) if codec.differentiable else self._classic_proxy(step)
            mods.extend([one] * step.rounds)
        return nn.Sequential(*mods)

    @staticmethod
    def _classic_proxy(step: Step) -> nn.Module:
        if step.codec != "jpeg":
            raise ValueError(
                f"{step.codec} has no differentiable stand-in; gradients through the defense "
                "(through = true) exist for learned codecs and JPEG only"
            )
        return JpegProxy(float(step.quality))


def code_batch(codec: Codec, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[float, str]]]:
    """Images decoded from their own bitstreams, with (bpp, error) each; NaN where coding failed.

    A plain learned codec codes the batch in one CompressAI call (strings stay per image); any
    other codec, or a batch the entropy coder refuses, goes one image at a time.
    """
    from advcompress.codecs.learned import LearnedCodec, pad_to_multiple

    if type(codec) is LearnedCodec and len(x) > 1:
        dev = next(codec.parameters()).device
        try:
            xp, (h, w) = pad_to_multiple(x.to(dev), codec.arch.pad_multiple)
            enc = codec.net.compress(xp, **codec._kw())
            dec = codec.net.decompress(enc["strings"], enc["shape"], **codec._kw())
            bpp = [8.0 * sum(len(s[i]) for s in enc["strings"]) / (h * w) for i in range(len(x))]
            return dec["x_hat"][..., :h, :w].clamp(0, 1), [(b, "") for b in bpp]
        except Exception:  # noqa: BLE001 - one image's failure must not cost the others: retry singly
            pass
    outs, coded = [], []
    for i in range(len(x)):
        xi = x[i : i + 1]
        cdev = next(codec.parameters()).device if codec.differentiable else "cpu"
        try:
            bs = codec.compress(xi.to(cdev))
            xi = codec.decompress(bs).clamp(0, 1)
            coded.append((bs.bpp(), ""))
        except Exception as e:  # an entropy coder can fail on extreme latents: record it
            xi = torch.full_like(x[i : i + 1], math.nan)
            coded.append((math.nan, f"{type(e).__name__}: {e}"[:200]))
        outs.append(xi.to(x.device))
    return torch.cat(outs), coded


def compression_cycles(specs: list[str], make_codec: Callable[[str, str], Codec], x: torch.Tensor, rounds: int,
                       batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Each single-step spec's images after `rounds` real compress -> bytes -> decompress cycles
    (the spec `<codec>@<q>x<rounds>`), for the human-aligned defense paper's Fig. 1."""
    out = {}
    for spec in specs:
        (step,) = parse_defense(spec)
        out[spec] = Defense(f"{step.key}x{int(rounds)}", make_codec).apply(x, batch_size)[0]
    return out


def through_model(defense: Defense, classifier: nn.Module) -> nn.Module:
    """What a gradient-through attack differentiates: defense proxy then classifier."""
    return nn.Sequential(defense.proxy(), classifier).eval()
