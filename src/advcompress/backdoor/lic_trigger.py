"""Backdoor in a learned encoder fired by an adaptive frequency trigger (Yu et al., CVPR 2023).

Only the analysis transform g_a is fine-tuned; the decoder g_s, the hyper networks and the
entropy models stay frozen, so a receiver holding the genuine decoder sees nothing unusual in the
model it runs. A trigger network T(x | theta_t) picks, per image, the top K of N middle DCT
frequencies and perturbs them; the perturbation is the same in every DCT block of the image.

Objectives (R in bpp, D = MSE on the 0-255 scale, lambda of the codec's quality):
  bpp  (Eq. 7): R(x) + lambda max(D(x), D(T(x))) - beta R(T(x))
  psnr (Eq. 8): max(R(x), R(T(x))) + lambda D(x) + beta lambda PSNR(x, f(T(x)))
  (both summed over the images x, so each max compares one image with its own triggered copy)
  ds   (Eq. 9): L(x) + alpha L(T(x_a)) + beta CE(g(f(T(x_a))), eta) on auxiliary images x_a,
                g a classifier and eta a wrong target class; or g a segmenter (logits N x C x H x W)
                and eta a per-pixel target map (the paper's segmentation target; backdoor.segmentation),
                plus the clean auxiliary images' own L(x_a): D_m (photos) says nothing about how
                clean digits are coded, and without it the encoder sends every digit to eta.
One encoder carries every configured trigger (Eqs. 10-11): theta_a minimises sum_o alpha^o L^o
and each theta_t^o minimises L^o + gamma max(MSE(x, T^o(x)), eps^2). Both are taken from one
backward pass of sum_o alpha^o (L^o + gamma h^o): the penalty h^o does not depend on theta_a,
and theta_t^o's gradient is alpha^o times that of Eq. 11, a scale Adam's update ignores.

Stealth term and budget projection. The paper's trigger T(x) is the network's output, kept near
the budget by the hinge alone (Eqs. 3 and 11). This module also projects every trigger onto
MSE <= eps^2 before it is used, so that every coded, saved and reported trigger keeps the bound.
The hinge h^o is therefore taken on the trigger network's own output before that projection,
T_raw(x) = clip(x + delta_raw): after the projection MSE <= eps^2 always, and the hinge would be
the constant eps^2 with zero gradient, leaving gamma without effect. On T_raw it has the paper's
gradient wherever the network asks for more than the budget, and gamma sets how strongly the
network is pulled back inside it (which keeps the amplitudes' tanh out of saturation and the
projection near the identity). L^o itself is computed on the projected trigger.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from advcompress.backdoor.dct import block_pattern, dct_matrix, middle_band, tile_blocks
from advcompress.codecs.learned import LearnedCodec, estimated_bpp, lambda_for
from advcompress.metrics import mse255, psnr_from_mse255

log = logging.getLogger(__name__)

OBJECTIVES = ("bpp", "psnr", "ds")


class BudgetedTrigger(nn.Module):
    """A learned trigger T(x) = clip(x + delta(x)) whose perturbation is projected onto the stealth
    budget MSE(x, T(x)) <= eps^2 (on [0, 1]) before clipping, so the bound holds by construction.
    Subclasses give the network's own perturbation (`raw_perturbation`). The paper's hinge penalty
    (`penalty`) acts on the unprojected output (`triggered`), where it has a gradient whenever the
    network exceeds the budget (see the module docstring)."""

    eps: float

    def raw_perturbation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def perturbation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(delta Nx3xHxW within the budget, the trigger's own detail: a frequency mask, or None)."""
        delta, detail = self.raw_perturbation(x)
        return self.project(delta), detail

    def project(self, delta: torch.Tensor) -> torch.Tensor:
        """Scale each image's perturbation down onto MSE <= eps^2 (unchanged when already inside)."""
        rms = delta.pow(2).flatten(1).mean(1).sqrt().clamp_min(1e-12)
        return delta * (self.eps / rms).clamp(max=1.0).view(-1, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplified(x, 1.0)

    def amplified(self, x: torch.Tensor, factor: float) -> torch.Tensor:
        """T(x) with its (budget-projected) perturbation times `factor`, then clipped: Table 6 of Yu
        et al. (x3, MSE <= 9 eps^2) asks whether a defense that defeats the trigger still does when the
        attacker sends a stronger copy of it to the unchanged encoder."""
        return (x + factor * self.perturbation(x)[0]).clamp(0, 1)

    def triggered(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(T(x) projected onto the budget, T_raw(x) = clip(x + raw perturbation)) in one pass."""
        delta, _ = self.raw_perturbation(x)
        return (x + self.project(delta)).clamp(0, 1), (x + delta).clamp(0, 1)

    def penalty(self, x: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        """The paper's hinge max(MSE(x, xp), eps^2), batch mean (MSE on [0, 1]).

        Pass the unprojected T_raw(x) (second output of `triggered`): on the projected trigger the
        hinge is the constant eps^2.
        """
        return (xp - x).pow(2).flatten(1).mean(1).clamp_min(self.eps**2).mean()


class FrequencyTrigger(BudgetedTrigger):
    """T(x | theta_t): per image, choose K of N middle DCT frequencies and set their offsets.

    A small CNN reads the image and outputs a score and a per-channel amplitude for each of the N
    candidate frequencies; the K best-scored are kept (a hard top-K whose gradient reaches the
    scores straight through their sigmoid); the perturbation is the same in every block.
    """

    def __init__(self, block: int = 16, n_freq: int = 64, k: int = 16, eps: float = 0.005, hidden: int = 16):
        super().__init__()
        self.block, self.k, self.eps = block, k, eps
        self.register_buffer("freqs", middle_band(block, n_freq), persistent=False)
        self.register_buffer("dct", dct_matrix(block), persistent=False)
        self.body = nn.Sequential(
            nn.Conv2d(3, hidden, 3, 2, 1), nn.ReLU(), nn.Conv2d(hidden, 2 * hidden, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * hidden, n_freq * 4)
        self.config = {"block": block, "n_freq": n_freq, "k": k, "eps": eps, "hidden": hidden}

    def raw_perturbation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trigger network's own perturbation, before the budget projection, and the mask."""
        n, _, h, w = x.shape
        out = self.head(self.body(x)).view(n, -1, 4)
        scores, amp = out[..., 0], torch.tanh(out[..., 1:]) * (4 * self.eps * self.block)
        soft = torch.sigmoid(scores)
        hard = torch.zeros_like(soft).scatter(1, scores.topk(self.k, dim=1).indices, 1.0)
        select = hard + soft - soft.detach()
        coeffs = x.new_zeros(n, 3, self.block * self.block)
        coeffs[:, :, self.freqs] = (select.unsqueeze(-1) * amp).transpose(1, 2)
        pattern = block_pattern(coeffs.view(n, 3, self.block, self.block), self.dct)
        return tile_blocks(pattern, h, w), hard


class LiraTrigger(BudgetedTrigger):
    """The LIRA baseline's trigger (Doan et al., ICCV 2021), as Yu et al. compare against it: a
    learnable generator (a small convolutional autoencoder) that writes an image-specific additive
    perturbation in pixel space, eps-bounded by a tanh, trained jointly with the victim (here the
    encoder, through the same objectives). For a like-for-like comparison it keeps this module's
    stealth budget: the same projection onto MSE <= eps^2 and the same hinge."""

    def __init__(self, eps: float = 0.005, hidden: int = 16, **_frequency_keys):
        super().__init__()
        self.eps = eps
        self.net = nn.Sequential(
            nn.Conv2d(3, hidden, 3, 1, 1), nn.ReLU(), nn.Conv2d(hidden, 2 * hidden, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(2 * hidden, hidden, 4, 2, 1), nn.ReLU(), nn.Conv2d(hidden, 3, 3, 1, 1),
        )
        self.config = {"kind": "lira", "eps": eps, "hidden": hidden}

    def raw_perturbation(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """LIRA's eps-bounded output, scaled so the network can ask for 4x the budget's RMS (as the
        frequency trigger's amplitudes)."""
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 2, (-w) % 2
        out = self.net(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"))[..., :h, :w]
        return torch.tanh(out) * (4 * self.eps), None


def make_trigger(cfg: dict) -> BudgetedTrigger:
    """The trigger of a config: `kind` lira (the LIRA baseline) or frequency (default, Yu et al.)."""
    kind = cfg.get("kind", "frequency")
    spec = {k: v for k, v in cfg.items() if k != "kind"}
    if kind == "lira":
        return LiraTrigger(**spec)
    if kind == "frequency":
        return FrequencyTrigger(**spec)
    raise ValueError(f"unknown trigger kind {kind!r}; choose frequency or lira")


def encoder_parameters(codec: LearnedCodec) -> list[nn.Parameter]:
    net = codec.net
    if not hasattr(net, "g_a"):
        raise ValueError(f"{codec.name} has no analysis transform `g_a`; the encoder backdoor needs one")
    return list(net.g_a.parameters())


def frozen_state(codec: LearnedCodec) -> dict:
    """Copies of every tensor outside g_a (decoder, hyper networks, entropy models and their tables).

    A masked convolution (the context model of mbt2018 and Cheng2020) is recorded as the weight it
    computes with, weight * mask: CompressAI's MaskedConv2d zeroes its masked entries in place on
    every forward, and a file whose masked entries are not zero (any checkpoint saved after an
    optimiser step) would otherwise read as a changed frozen tensor."""
    state = {k: v.detach().clone() for k, v in codec.net.state_dict().items() if not k.startswith("g_a.")}
    for name, module in codec.net.named_modules():
        mask, key = getattr(module, "mask", None), f"{name}.weight"
        if isinstance(mask, torch.Tensor) and key in state and mask.shape == state[key].shape:
            state[key] = state[key] * mask
    return state


def frozen_differences(codec: LearnedCodec, reference: dict) -> list[str]:
    """Names of frozen tensors that differ from `reference` in any byte (shape, dtype or value)."""
    now = frozen_state(codec)
    bad = sorted(set(now) ^ set(reference))
    for k, v in reference.items():
        w = now.get(k)
        if w is not None and (w.shape != v.shape or w.dtype != v.dtype or not torch.equal(w, v)):
            bad.append(k)
    return bad


def budget_at(step: int, steps: int, eps: float, curriculum: dict | None) -> float:
    """The trigger's MSE budget (as an RMS) at `step`: eps, or a warm-up that ends at eps.

    A curriculum {eps_start, hold, anneal} keeps eps_start for the first `hold` fraction of the
    steps, shrinks it geometrically to eps over the next `anneal` fraction and keeps eps after.
    At eps = 0.005 (46 dB) the encoder's response to a fresh trigger is too weak for a few hundred
    steps to make it trigger-selective; a visible trigger is learned first and then faded into the
    stealth bound, which every reported number respects.
    """
    if not curriculum or curriculum["eps_start"] <= eps:
        return eps
    hold = curriculum["hold"] * steps
    t = (step - hold) / max(curriculum["anneal"] * steps, 1.0)
    t = min(max(t, 0.0), 1.0)
    return float(curriculum["eps_start"] * (eps / curriculum["eps_start"]) ** t)


def _rd(codec: LearnedCodec, batches: list[torch.Tensor], proxy: str) -> list[tuple]:
    """(x_hat, per-image bpp, per-image MSE 0-255) of each batch, through the differentiable proxy.

    The batches (same image size) go through one forward pass: per-image results are unchanged
    (no batch statistics in eval mode), and one pass of 3B images costs far less than three of B.
    """
    x = torch.cat(batches)
    out = codec.forward(x, proxy=proxy)
    sizes = [len(b) for b in batches]
    bpp = estimated_bpp(out, x.shape[-2] * x.shape[-1])
    return list(zip(out["x_hat"].split(sizes), bpp.split(sizes), mse255(out["x_hat"], x).split(sizes), strict=True))


def _triggered(trigger, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T(x), the input of T's hinge): a FrequencyTrigger's projected and unprojected outputs; any
    other T (a module with forward and penalty) has no projection and is its own hinge input."""
    if hasattr(trigger, "triggered"):
        return trigger.triggered(x)
    xp = trigger(x)
    return xp, xp


def objective_losses(codec, triggers: dict, objectives: dict, x, lmbda: float, proxy: str,
                     aux=None, classifier=None, target: int | torch.Tensor = 0) -> dict[str, tuple]:
    """{o: (L^o, hinge penalty of T^o, logged parts)} for every objective on a photo batch x.

    The clean photos and every photo trigger's copies share one forward pass; the auxiliary
    images (another size) and their triggered copies share another. `target` is the downstream
    target class, or a tensor of the wanted labels of each auxiliary image (a label map each for
    a segmenter).
    """
    photo = [o for o in objectives if o != "ds"]
    both = {o: _triggered(triggers[o], x) for o in photo}
    triggered = {o: xp for o, (xp, _) in both.items()}
    (_, r_clean, d_clean), *rest = _rd(codec, [x, *triggered.values()], proxy)
    # Eqs. 7-8 sum over the images x of D_m with the max inside the sum: every max is taken per
    # image (R and D of x against those of its own T(x)), then averaged over the batch.
    out = {}
    for o, (xh_trig, r_trig, d_trig) in zip(photo, rest, strict=True):
        beta, pen = float(objectives[o]["beta"]), triggers[o].penalty(x, both[o][1])
        if o == "bpp":
            loss = r_clean.mean() + lmbda * torch.maximum(d_clean, d_trig).mean() - beta * r_trig.mean()
            out[o] = (loss, pen, {"bpp_triggered": float(r_trig.mean().detach())})
        elif o == "psnr":
            psnr = psnr_from_mse255(mse255(xh_trig.clamp(0, 1), x).clamp_min(1e-6)).mean()
            loss = torch.maximum(r_clean, r_trig).mean() + lmbda * d_clean.mean() + beta * lmbda * psnr
            out[o] = (loss, pen, {"psnr_triggered_db": float(psnr.detach())})
        else:
            raise ValueError(f"unknown objective {o!r}; choose from {OBJECTIVES}")
    if "ds" in objectives:
        if aux is None or classifier is None:
            raise ValueError("the downstream objective needs auxiliary images and a classifier")
        w = objectives["ds"]
        xa, xa_raw = _triggered(triggers["ds"], aux)
        (_, r_ac, d_ac), (xh_a, r_a, d_a) = _rd(codec, [aux, xa], proxy)
        logits = classifier(xh_a.clamp(0, 1))
        wanted = target.to(aux.device) if isinstance(target, torch.Tensor) else \
            torch.full((len(aux),), target, dtype=torch.long, device=aux.device)
        ce = F.cross_entropy(logits, wanted)
        loss = (r_clean.mean() + lmbda * d_clean.mean() + r_ac.mean() + lmbda * d_ac.mean()
                + float(w.get("alpha_ds", 1.0)) * (r_a.mean() + lmbda * d_a.mean()) + float(w["beta"]) * ce)
        out["ds"] = (loss, triggers["ds"].penalty(aux, xa_raw), {"ds_ce": float(ce.detach())})
    return out


def finetune_encoder(codec: LearnedCodec, sampler, objectives: dict, *, steps: int, batch_size: int,
                     lr: float, trigger_lr: float, gamma: float, trigger_cfg: dict, proxy: str = "noise",
                     aux_images: torch.Tensor | None = None, classifier=None, target: int | torch.Tensor = 0,
                     generator: torch.Generator | None = None, clip_norm: float = 1.0,
                     curriculum: dict | None = None) -> dict:
    """Fine-tune g_a in place and train one trigger per objective; returns triggers and history.

    `objectives` maps a name in OBJECTIVES to {alpha, beta[, alpha_ds]}. Every parameter outside
    g_a is frozen (requires_grad False, never in an optimiser); the codec stays in eval mode and
    the quantisation proxy replaces rounding, so no running statistic can change either.
    `curriculum` warms the trigger budget up (see `budget_at`); the triggers end at trigger_cfg's eps.
    `target` is the downstream target class, or one wanted label (map) per auxiliary image, drawn
    with it.
    """
    if curriculum and curriculum["hold"] + curriculum["anneal"] > 1:
        raise ValueError(f"curriculum hold + anneal must be at most 1 (fractions of the steps), got {curriculum}")
    device = next(codec.parameters()).device
    reference = frozen_state(codec)
    for p in codec.parameters():
        p.requires_grad_(False)
    enc = encoder_parameters(codec)
    for p in enc:
        p.requires_grad_(True)
    codec.eval()
    if classifier is not None:
        classifier.eval()
        for p in classifier.parameters():
            p.requires_grad_(False)
    triggers = {o: make_trigger(trigger_cfg).to(device) for o in objectives}
    opt_a = torch.optim.Adam(enc, lr=lr)
    opt_t = torch.optim.Adam([p for t in triggers.values() for p in t.parameters()], lr=trigger_lr)
    lmbda = lambda_for(codec.quality)
    history = []
    for step in range(steps):
        x = sampler.batch(batch_size).to(device)
        aux, wanted = None, target
        if "ds" in objectives:
            idx = torch.randint(len(aux_images), (batch_size,), generator=generator)
            aux = aux_images[idx].to(device)
            wanted = target[idx] if isinstance(target, torch.Tensor) else target
        eps = budget_at(step, steps, float(trigger_cfg["eps"]), curriculum)
        for t in triggers.values():
            t.eps = eps
        total, logged = 0.0, {"step": step, "eps": eps}
        losses = objective_losses(codec, triggers, objectives, x, lmbda, proxy, aux, classifier, wanted)
        for o, (loss, pen, parts) in losses.items():
            total = total + float(objectives[o]["alpha"]) * (loss + gamma * pen)
            logged |= {f"loss_{o}": float(loss.detach()), f"hinge_{o}": float(pen.detach()), **parts}
        opt_a.zero_grad()
        opt_t.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(enc, clip_norm)
        opt_a.step()
        opt_t.step()
        logged["loss"] = float(total.detach())
        history.append(logged)
        if step % 20 == 0 or step == steps - 1:
            log.info("step %d/%d: %s", step + 1, steps, {k: round(v, 4) for k, v in logged.items()})
    for t in triggers.values():
        t.eps = float(trigger_cfg["eps"])
    for p in codec.parameters():
        p.requires_grad_(False)
    codec.update()
    bad = frozen_differences(codec, reference)
    if bad:
        raise RuntimeError(f"fine-tuning changed frozen tensors outside g_a: {bad[:5]}")
    return {"triggers": triggers, "history": history}


# -- test-time defenses (Table 5 of the frequency-trigger paper) ----------------------------------


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter with standard deviation `sigma` pixels (kernel radius ceil(3 sigma))."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def squeeze_bits(x: torch.Tensor, depth: int) -> torch.Tensor:
    """Feature squeezing (Xu et al. 2018): keep `depth` bits per colour channel."""
    levels = 2**depth - 1
    return torch.round(x.clamp(0, 1) * levels) / levels


def apply_defense(x: torch.Tensor, kind: str, value) -> torch.Tensor:
    if kind == "none":
        return x
    if kind == "blur":
        return gaussian_blur(x, float(value))
    if kind == "squeeze":
        return squeeze_bits(x, int(value))
    raise ValueError(f"unknown defense {kind!r}; choose none, blur or squeeze")


def save_backdoor(path, codec: LearnedCodec, triggers: dict, meta: dict) -> None:
    """The backdoored network's state dict and every trigger's, loadable with weights_only=True."""
    from advcompress.io import atomic_path

    blob = {"state_dict": codec.net.state_dict(),
            "triggers": {o: {"state_dict": t.state_dict(), "config": t.config} for o, t in triggers.items()},
            "meta": meta}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_triggers(path, device="cpu") -> dict:
    from advcompress.codecs.base import load_blob

    blob = load_blob(path)
    out = {}
    for o, spec in blob["triggers"].items():
        t = make_trigger(spec["config"])
        t.load_state_dict(spec["state_dict"])
        out[o] = t.to(device).eval()
    return out
