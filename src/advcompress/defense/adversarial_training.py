"""Defenses of learned codecs against RD attacks (paper Sec. VI): adversarial training here.

Adversarial training (AT) fine-tunes a codec on batches that mix clean crops with SRDA-perturbed
crops whose attack direction (gamma_r, gamma_d) is drawn per sample, so the training covers the
whole direction space; the fine-tuned weights are a new codec name `<model>@at-<samples>`.

Online updating, the other defense, is a codec wrapper (`<codec>+online`) and lives with the codecs
in `advcompress.codecs.wrappers`, so that the registry that builds it by name imports no study.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch

from advcompress.attack.algorithms import AttackSettings, srda
from advcompress.codecs.learned import LearnedCodec
from advcompress.codecs.wrappers import per_sample_rd, settings_from_dict
from advcompress.device import to_python

log = logging.getLogger(__name__)


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
        return settings_from_dict(cls, d)


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
    from advcompress.foundation.train import rd_optimizer_step, rd_optimizers

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
