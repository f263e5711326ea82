"""Codec wrappers: a name `<codec><suffix>` is another codec built around `<codec>`.

`<codec>+online` is online updating (paper Sec. VI): at encode time the image fed to the encoder is
optimised so that R + lambda * D (Eq. 1) is smallest, D measured against the image as received, and
the optimised image is then coded for real. It lives with the codecs, not with the defense study,
because every study (attacks, assessment, classifier defenses) builds it by name through the
registry, and the registry must not import a study. By default the attacker does not see the
online step (its gradients go through the plain codec); `attacker_sees: true` lets it see the step's
effect through a straight-through path.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields

import torch

from advcompress.codecs.base import Bitstream, Codec
from advcompress.codecs.learned import PROXIES, LearnedCodec, estimated_bpp
from advcompress.codecs.registry import register_wrapper
from advcompress.metrics import mse255


def settings_from_dict(cls, d: dict | None):
    """`cls(**d)`, refusing keys `cls` does not have: a misspelt setting must not be ignored."""
    known = {f.name for f in fields(cls)}
    unknown = set(d or {}) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
    return cls(**(d or {}))


def per_sample_rd(out: dict, x_ref: torch.Tensor, lmbda: float) -> dict:
    """Per-sample estimated bpp, 0-255 MSE of the (clamped) reconstruction against `x_ref`, and R + lambda D."""
    h, w = x_ref.shape[-2:]
    bpp = estimated_bpp(out, h * w)
    d = mse255(out["x_hat"][..., :h, :w].clamp(0, 1), x_ref)
    return {"bpp": bpp, "mse255": d, "loss": bpp + lmbda * d}


# -- online updating ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnlineSettings:
    """Encode-time optimisation of the input (paper: Adam, lr 1e-2; the step count is not stated)."""

    steps: int = 50
    lr: float = 1e-2
    lmbda: float | None = None  # None: the lambda the codec was trained with at its quality (arch.rd_lambda)
    proxy: str = "ste"  # gradient path through rounding
    attacker_sees: bool = False  # attacks see the online step (straight-through) instead of the plain codec

    @classmethod
    def from_dict(cls, d: dict | None) -> OnlineSettings:
        s = settings_from_dict(cls, d)
        if s.proxy not in PROXIES or s.proxy == "none":
            raise ValueError(f"online proxy must be one of {', '.join(PROXIES[1:])} (rounding has no gradient), "
                             f"not {s.proxy!r}")
        return s


@torch.no_grad()
def rd_objective(codec, x_in: torch.Tensor, x_ref: torch.Tensor, lmbda: float) -> dict:
    """Per-sample R + lambda * D of coding `x_in` (eval-mode rounding, no proxy), D against `x_ref`."""
    return per_sample_rd(codec.forward(x_in), x_ref, lmbda)


def online_update(codec, x: torch.Tensor, lmbda: float, settings: OnlineSettings) -> tuple[torch.Tensor, dict]:
    """The encoder input that minimises R + lambda * D(x_hat, x) found by Adam from `x` itself.

    The returned image is the best iterate by the exact objective (real rounding), and `x` is the
    first iterate, so the RD loss of what is coded never exceeds that of coding `x` directly. With
    the `ste` proxy the forward value equals real rounding, so each step's loss is exact; with
    `noise` every iterate is re-measured without the proxy.
    """
    x = x.detach()
    xo = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([xo], lr=settings.lr)
    best = x.clone()
    best_loss = torch.full((x.shape[0],), math.inf, device=x.device)
    first = None
    with torch.enable_grad():
        for step in range(settings.steps + 1):
            cur = xo.detach().clone()
            out = codec.forward(xo, proxy=settings.proxy)
            terms = per_sample_rd(out, x, lmbda)
            exact = terms["loss"].detach() if settings.proxy == "ste" else rd_objective(codec, cur, x, lmbda)["loss"]
            if first is None:
                first = exact.clone()
            better = exact < best_loss
            best = torch.where(better.view(-1, 1, 1, 1), cur, best)
            best_loss = torch.where(better, exact, best_loss)
            if step == settings.steps:
                break
            opt.zero_grad(set_to_none=True)
            terms["loss"].sum().backward()
            opt.step()
            with torch.no_grad():
                xo.clamp_(0, 1)
    return best, {"loss_before": first, "loss_after": best_loss}


class OnlineCodec(Codec, torch.nn.Module):
    """`<codec>+online`: online updating before the real encoder; decoding is the base codec's.

    The optimisation runs on a private copy of the network, so hooks on `net` (latent statistics)
    see only the coding of the final image. The last result is cached, so measuring the estimated
    rate, the rate map and the bitstream of one image optimises it once.
    """

    family = "learned"
    differentiable = True

    def __init__(self, base: LearnedCodec, settings: OnlineSettings):
        if not getattr(base, "differentiable", False):
            raise ValueError(f"online updating needs a differentiable (learned) codec, not {base!r}")
        torch.nn.Module.__init__(self)
        Codec.__init__(self, base.quality)
        self.base = base
        self.name = f"{base.name}+online"
        self.settings = settings
        self.lmbda = settings.lmbda if settings.lmbda is not None else base.arch.rd_lambda(base.quality)
        # a submodule too, so `to`/`eval` move it with the base; `parameters` are the base's alone
        self._shadow = LearnedCodec(base.name, base.quality, copy.deepcopy(base.net), base.arch)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.last_info: dict = {}

    @property
    def net(self) -> torch.nn.Module:
        return self.base.net

    @property
    def arch(self):
        return self.base.arch

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """The online-optimised image the encoder codes in place of `x`."""
        x = x.detach()
        if self._cache is not None and self._cache[0].shape == x.shape and torch.equal(self._cache[0], x):
            return self._cache[1]
        x_opt, info = online_update(self._shadow, x, self.lmbda, self.settings)
        self._cache, self.last_info = (x.clone(), x_opt), info
        return x_opt

    def forward(self, x: torch.Tensor, proxy: str | None = None) -> dict:
        """Without a proxy (measurement): the coding of the optimised image. With a proxy (an
        attacker's gradient): the plain codec, or with `attacker_sees` the optimised image
        passed straight through to `x`."""
        if proxy in (None, "none"):
            return self.base.forward(self.encoder_input(x))
        if self.settings.attacker_sees:
            x = x + (self.encoder_input(x) - x).detach()
        return self.base.forward(x, proxy=proxy)

    def compress(self, x: torch.Tensor) -> Bitstream:
        return self.base.compress(self.encoder_input(x))

    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        return self.base.decompress(bitstream)

    def _apply(self, *args, **kwargs):
        """Every move of the weights (`to`, `cuda`, `double`, ...) goes through torch's `_apply`:
        the cached optimised image belongs to the old device and dtype."""
        self._cache = None
        return super()._apply(*args, **kwargs)

    def parameters(self, recurse: bool = True):
        """The base codec's weights: the private copy is re-derived from them (`update`)."""
        return self.base.parameters(recurse)

    def update(self) -> None:
        """After a change of the base weights: rebuild its coder tables and resync the private copy."""
        self.base.update()
        self._shadow.net.load_state_dict(self.base.net.state_dict())
        self._cache = None


def _wrap_online(codec, online: dict | None = None, **_settings) -> OnlineCodec:
    return OnlineCodec(codec, OnlineSettings.from_dict(online))


register_wrapper("+online", _wrap_online)
