"""Defenses of learned codecs against RD attacks (paper Sec. VI): adversarial training, online updating.

Adversarial training (AT) fine-tunes a codec on batches that mix clean crops with SRDA-perturbed
crops whose attack direction (gamma_r, gamma_d) is drawn per sample, so the training covers the
whole direction space; the fine-tuned weights are a new codec name `<model>@at-<samples>`.

Online updating optimises, at encode time, the image fed to the encoder so that R + lambda * D
(Eq. 1) is smallest, D measured against the image as received; the optimised image is then coded
for real. It is a codec wrapper (`<codec>+online`), so every attack and assessment treats it as any
other codec. By default the attacker does not see the online step (its gradients go through the
plain codec); `attacker_sees: true` lets it see the step's effect through a straight-through path.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field, fields

import torch

from advcompress.attacks import AttackSettings, srda
from advcompress.codecs.base import Bitstream, Codec
from advcompress.codecs.learned import PROXIES, LearnedCodec, estimated_bpp
from advcompress.codecs.registry import register_wrapper
from advcompress.device import to_python
from advcompress.metrics import mse255

log = logging.getLogger(__name__)


def _from_dict(cls, d: dict | None):
    known = {f.name for f in fields(cls)}
    unknown = set(d or {}) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
    return cls(**(d or {}))


# -- attack directions of the AT samples -----------------------------------------------------------


def sample_gammas(spec: dict, n: int, generator: torch.Generator) -> torch.Tensor:
    """n x 2 attack directions (gamma_r, gamma_d) for the perturbed half of an AT batch.

    `{"fixed": [gr, gd]}` gives one direction (SRA-only or SDA-only samples, Table III);
    `{"log10_gamma_d": [lo, hi], "endpoint_prob": p}` draws gamma_r = 1 and gamma_d log-uniform
    (D is on the 0-255 scale, so the paper's directions span gamma_d = 2e-4 .. 0.2), and with
    probability p each the pure-rate (1, 0) and pure-distortion (0, 1) ends of the range.
    """
    if spec.get("fixed") is not None:
        return torch.tensor([list(map(float, spec["fixed"]))] * n)
    lo, hi = map(float, spec["log10_gamma_d"])
    p = float(spec.get("endpoint_prob", 0.0))
    u = torch.rand(n, generator=generator)
    gd = 10 ** (lo + (hi - lo) * torch.rand(n, generator=generator))
    gammas = torch.stack([torch.ones(n), gd], 1)
    gammas[u < p] = torch.tensor([1.0, 0.0])
    gammas[(u >= p) & (u < 2 * p)] = torch.tensor([0.0, 1.0])
    return gammas


# -- adversarial training -------------------------------------------------------------------------


@dataclass(frozen=True)
class ATSettings:
    """Adversarial fine-tuning (paper Sec. VII.A.4 as defaults: Adam, 1000 steps, 256 crops,
    lr 1e-4 dropped to 1e-5 for the last 10% of the steps)."""

    steps: int = 1000
    batch_size: int = 8
    adv_fraction: float = 0.5  # share of each batch replaced by its SRDA-perturbed version
    lr: float = 1e-4
    lr_final: float = 1e-5
    final_fraction: float = 0.1
    aux_lr: float = 1e-3
    clip_norm: float = 1.0
    samples: dict = field(default_factory=lambda: {"log10_gamma_d": [-4.0, 0.0], "endpoint_prob": 0.2})
    attack: dict = field(default_factory=dict)  # AttackSettings of the SRDA that makes the samples

    @classmethod
    def from_dict(cls, d: dict | None) -> ATSettings:
        return _from_dict(cls, d)


def per_sample_rd(out: dict, x_ref: torch.Tensor, lmbda: float) -> dict:
    """Per-sample estimated bpp, 0-255 MSE of the (clamped) reconstruction against `x_ref`, and R + lambda D."""
    h, w = x_ref.shape[-2:]
    bpp = estimated_bpp(out, h * w)
    d = mse255(out["x_hat"][..., :h, :w].clamp(0, 1), x_ref)
    return {"bpp": bpp, "mse255": d, "loss": bpp + lmbda * d}


def adversarial_train(
    codec: LearnedCodec,
    sampler,
    qualities: list[int],
    settings: ATSettings | dict,
    generator: torch.Generator,
    log_every: int = 10,
) -> dict:
    """Fine-tune `codec` in place on clean + SRDA crops; `update(force=True)` at the end.

    Each step draws one quality (a variable-rate model learns all of its configured levels), a
    batch of crops, and perturbs the first `adv_fraction` of them with SRDA against the codec as it
    is at that step (eval mode, the attack's proxy), each with its own random direction. The loss is
    R + lambda * D (the architecture's own lambda of the quality) over the whole batch in training
    mode (noise proxy, as CompressAI trains), with D measured against each crop as given, perturbed or not.
    """
    from advcompress.train import rd_optimizer_step, rd_optimizers

    s = settings if isinstance(settings, ATSettings) else ATSettings.from_dict(settings)
    attack = AttackSettings.from_dict(s.attack)
    net, arch = codec.net, codec.arch
    if sampler.patch % arch.pad_multiple:
        raise ValueError(f"{codec.name} needs AT crops in multiples of {arch.pad_multiple} pixels, not {sampler.patch}")
    views = {q: LearnedCodec(codec.name, q, net, arch) for q in qualities}  # one network, per-quality level
    device = next(net.parameters()).device
    opt, aux_opt = rd_optimizers(net, s.lr, s.aux_lr)
    n_adv = int(round(s.adv_fraction * s.batch_size))
    drop_at = int(math.ceil((1 - s.final_fraction) * s.steps))
    history, t0 = [], time.perf_counter()
    for step in range(s.steps):
        lr = s.lr_final if step >= drop_at else s.lr
        for group in opt.param_groups:
            group["lr"] = lr
        q = qualities[int(torch.randint(len(qualities), (1,), generator=generator))]
        x = sampler.batch(s.batch_size).to(device)
        gammas = sample_gammas(s.samples, n_adv, generator).to(device)
        if n_adv:
            net.eval()
            x = torch.cat([srda(views[q], x[:n_adv], gammas, attack).x_adv.detach(), x[n_adv:]])
        net.train()
        out = views[q].forward(x)  # training mode: CompressAI's additive-noise quantisation
        terms = per_sample_rd(out, x, arch.rd_lambda(q))
        loss = terms["loss"].mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{codec.name}: non-finite AT loss at step {step}")
        rd_optimizer_step(net, opt, aux_opt, loss, s.clip_norm)
        logged = {"loss": loss.detach()}
        for part, sl in [("adv", slice(0, n_adv)), ("clean", slice(n_adv, None))]:
            if x[sl].shape[0]:
                logged |= {f"{k}_{part}": v[sl].detach().mean() for k, v in terms.items()}
        # one host transfer per step for the whole row
        values = to_python(torch.stack(list(logged.values())))
        history.append({"step": step, "quality": q, "lr": lr, **dict(zip(logged, values, strict=True))})
        row = history[-1]
        if step % log_every == 0 or step == s.steps - 1:
            log.info("AT step %d q%s lr %.1e loss %.4f", step, q, lr, row["loss"])
    net.eval()
    codec.update()
    return {"steps": s.steps, "seconds": time.perf_counter() - t0, "adv_per_batch": n_adv, "history": history}


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
        s = _from_dict(cls, d)
        if s.proxy not in PROXIES or s.proxy == "none":
            raise ValueError(f"online proxy must be 'ste' or 'noise' (rounding has no gradient), not {s.proxy!r}")
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


class OnlineCodec(Codec):
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
        super().__init__(base.quality)
        self.base = base
        self.name = f"{base.name}+online"
        self.settings = settings
        self.lmbda = settings.lmbda if settings.lmbda is not None else base.arch.rd_lambda(base.quality)
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

    __call__ = forward

    def compress(self, x: torch.Tensor) -> Bitstream:
        return self.base.compress(self.encoder_input(x))

    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        return self.base.decompress(bitstream)

    def to(self, device) -> OnlineCodec:
        self.base.to(device)
        self._shadow.to(device)
        self._cache = None
        return self

    def eval(self) -> OnlineCodec:
        self.base.eval()
        self._shadow.eval()
        return self

    def parameters(self):
        return self.base.parameters()

    def update(self) -> None:
        """After a change of the base weights: rebuild its coder tables and resync the private copy."""
        self.base.update()
        self._shadow.net.load_state_dict(self.base.net.state_dict())
        self._cache = None


def _wrap_online(codec, online: dict | None = None, **_settings) -> OnlineCodec:
    return OnlineCodec(codec, OnlineSettings.from_dict(online))


register_wrapper("+online", _wrap_online)
