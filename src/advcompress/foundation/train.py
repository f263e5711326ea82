"""Training learned codecs on the training tier with CompressAI's own loss and optimizer helpers.

The objective is CompressAI's `RateDistortionLoss`, R + lambda * 255^2 * MSE: the project's D is
already the 0-255 MSE (`metrics.mse255`), so the architectures' lambdas mean the same in both.
"""

from __future__ import annotations

import logging
import math
import time

import torch
from compressai.losses import RateDistortionLoss
from compressai.optimizers import net_aux_optimizer
from tqdm import tqdm

from advcompress.codecs.learned import LearnedCodec
from advcompress.data import to_unit_float
from advcompress.device import to_python
from advcompress.metrics import PEAK

log = logging.getLogger(__name__)


def rd_loss(out: dict, x: torch.Tensor, lmbda: float) -> dict:
    """CompressAI's `RateDistortionLoss` under the project's unit names: batch-mean rate `bpp`,
    distortion `mse255` (the 0-255 MSE its lambda multiplies) and `loss` = bpp + lambda * mse255."""
    terms = RateDistortionLoss(lmbda=lmbda)(out, x)
    return {"bpp": terms["bpp_loss"], "mse255": PEAK**2 * terms["mse_loss"], "loss": terms["loss"]}


class PatchSampler:
    """Random patches (with flips) from a list of images (float, or 8-bit codes), reproducible from
    one generator; batches are float in [0, 1] either way."""

    def __init__(self, images: list[torch.Tensor], patch: int, generator: torch.Generator):
        self.images = [im for im in images if min(im.shape[-2:]) >= patch]
        if not self.images:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch = patch
        self.g = generator

    def batch(self, n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            im = self.images[int(torch.randint(len(self.images), (1,), generator=self.g))]
            h, w = im.shape[-2:]
            top = int(torch.randint(h - self.patch + 1, (1,), generator=self.g))
            left = int(torch.randint(w - self.patch + 1, (1,), generator=self.g))
            crop = im[..., top : top + self.patch, left : left + self.patch]
            if torch.rand(1, generator=self.g) < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return to_unit_float(torch.cat(out))


def rd_optimizers(net: torch.nn.Module, lr: float, aux_lr: float) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam on the network and Adam on the entropy bottleneck's quantiles (which only the auxiliary
    loss fits), split by CompressAI's `net_aux_optimizer` as its training example does."""
    opts = net_aux_optimizer(net, {"net": {"type": "Adam", "lr": lr}, "aux": {"type": "Adam", "lr": aux_lr}})
    return opts["net"], opts["aux"]


def rd_optimizer_step(net: torch.nn.Module, opt, aux_opt, loss: torch.Tensor, clip_norm: float) -> None:
    """One update of both: the network on `loss` (gradient norm clipped when `clip_norm`), then the
    quantiles on the auxiliary loss, which the training and adversarial-training loops share."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(opt.param_groups[0]["params"], clip_norm)
    opt.step()
    aux_opt.zero_grad(set_to_none=True)
    net.aux_loss().backward()
    aux_opt.step()


def rd_step_loss(codec: LearnedCodec, sampler: PatchSampler, qualities: list[int], batch_size: int,
                       device) -> dict:
    """RD loss of one step, averaged over every quality in `qualities` on its own sub-batch.

    A fixed-rate codec has one quality. A variable-rate one sees all its levels in every step: the
    same objective as drawing a level per step, but each update contrasts the levels, which is what
    teaches the network to use its rate input within a short schedule (one level per step left the
    default-tier Song2021 coding every level alike). The levels are weighed by `balance_levels`.
    """
    per_q = max(1, math.ceil(batch_size / len(qualities)))
    parts = []
    for q in qualities:
        x = sampler.batch(per_q).to(device, memory_format=codec.arch.memory_format)
        kw = {"s": codec.arch.level(q)} if codec.arch.variable_rate else {}
        parts.append(rd_loss(codec.net(x, **kw), x, codec.arch.rd_lambda(q)))
    terms = {k: torch.stack([p[k] for p in parts]).mean() for k in parts[0]}
    terms["loss"] = balance_levels([p["loss"] for p in parts])
    return terms


def balance_levels(losses: list[torch.Tensor]) -> torch.Tensor:
    """The mean of the levels' RD losses in value, with each level's gradient divided by its own loss.

    R + lambda * D grows with lambda, so a plain mean lets the top level's gradient drown the others
    (the default tier's Cai2022 coded its 25 and 90 levels only 0.21 bpp apart). Dividing each
    level by its (constant) value gives every level the same relative pull, as drawing one level per
    step would under Adam; the value stays the mean so logs and gradient clipping keep their scale.
    Measured on that Cai2022 (200 steps): BD-PSNR against JPEG -2.17 -> -1.43 dB (docs/codecs/default-tier.md).
    """
    if len(losses) == 1:
        return losses[0]
    stacked = torch.stack(losses)
    return (stacked / stacked.detach()).mean() * stacked.detach().mean()


def train_codec(
    codec: LearnedCodec,
    sampler: PatchSampler,
    qualities: list[int],
    steps: int,
    batch_size: int,
    lr: float,
    aux_lr: float = 1e-3,
    lr_drop_at: float = 0.8,
    clip_norm: float = 1.0,
    log_every: int = 50,
    progress: bool = True,
    top_level_first: float = 0.0,
) -> dict:
    """Train in place. A fixed-rate codec has one quality; a variable-rate one trains on all of them.

    The learning rate drops tenfold after `lr_drop_at` of the steps; the auxiliary loss fits the
    entropy bottleneck's quantiles; `update(force=True)` rebuilds the coder tables at the end.
    `top_level_first` is the fraction of the steps a variable-rate model spends on its highest
    quality alone before it sees every level: the base model first, as Kamisli et al. train the VBR
    model (its coarser levels only rescale the quantiser of a base model that must exist first).
    """
    if steps < 1:
        raise ValueError(f"{codec.name}: training needs at least one step, got {steps}")
    if not 0 <= top_level_first < 1:
        raise ValueError(f"top_level_first must be in [0, 1), got {top_level_first}")
    warm_steps = int(top_level_first * steps) if codec.arch.variable_rate and len(qualities) > 1 else 0
    net = codec.net
    if sampler.patch % codec.arch.pad_multiple:
        raise ValueError(
            f"{codec.name} needs training patches in multiples of {codec.arch.pad_multiple} pixels, "
            f"not {sampler.patch}: set train.patch accordingly"
        )
    device = next(net.parameters()).device
    net.train()
    opt, aux_opt = rd_optimizers(net, lr, aux_lr)
    history: list[dict] = []
    pending: list[torch.Tensor] = []  # the steps' loss terms since the last log line, on the device
    keys: list[str] = []

    def flush() -> None:
        """The pending steps' terms leave the device in one transfer (not one sync per step)."""
        first = len(history)
        for i, values in enumerate(to_python(torch.stack(pending))):
            row = dict(zip(keys, values, strict=True)) | {"step": first + i}
            if not math.isfinite(row["loss"]):  # checked per log interval: a NaN step is named, a little later
                raise FloatingPointError(f"{codec.name}: non-finite training loss at step {row['step']}")
            history.append(row)
        pending.clear()

    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=codec.name, disable=not progress, mininterval=2.0)
    for step in bar:
        if step == int(lr_drop_at * steps):
            for group in opt.param_groups:
                group["lr"] = lr / 10
        levels = qualities[-1:] if step < warm_steps else qualities
        terms = rd_step_loss(codec, sampler, levels, batch_size, device)
        rd_optimizer_step(net, opt, aux_opt, terms["loss"], clip_norm)
        keys = list(terms)
        pending.append(torch.stack([v.detach() for v in terms.values()]))
        if step % log_every == 0 or step == steps - 1:
            flush()
            row = history[-1]
            bar.set_postfix(loss=f"{row['loss']:.3f}", bpp=f"{row['bpp']:.3f}", mse=f"{row['mse255']:.1f}")
            log.info("step %d loss %.4f bpp %.4f mse255 %.2f", step, row["loss"], row["bpp"], row["mse255"])
    net.eval()
    codec.update()
    tail = history[-max(1, min(50, steps // 5)) :]
    return {
        "steps": steps,
        "seconds": time.perf_counter() - t0,
        "final_loss": sum(r["loss"] for r in tail) / len(tail),
        "final_bpp": sum(r["bpp"] for r in tail) / len(tail),
        "final_psnr_db": 10 * math.log10(255**2 / max(1e-9, sum(r["mse255"] for r in tail) / len(tail))),
        "history": history[:: max(1, log_every // 5)],
    }
