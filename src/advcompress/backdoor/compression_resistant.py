"""Compression-resistant classifier backdoor (Xue et al.): poisoning with compressed backdoor
instances and feature-consistency training (Eqs. 4-6), with the common backdoor and adversarial
training as baselines, and the attack success rate after real compression.

Backdoor instances come from images of every class, as in the paper's D_p; the attack success
rate is measured on test images whose true class is not the target (a target-class image counted
as "success" would say nothing about the backdoor).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from advcompress.backdoor.triggers import Trigger

log = logging.getLogger(__name__)

METHODS = ("clean", "common", "adversarial", "fc")


# -- real compression of small images -------------------------------------------------------------


def compress_images(x: torch.Tensor, codec: str, quality) -> torch.Tensor:
    """Every image through the registered codec's real encoder and decoder (8-bit output)."""
    from advcompress.codecs import make_codec

    c = make_codec(codec, quality)
    return torch.cat([c.roundtrip(x[i : i + 1])[0] for i in range(len(x))]) if len(x) else x.clone()


def codec_unavailable(codec: str, quality) -> str:
    """Why `codec` cannot encode here ('' if it can): a missing encoder is reported, not dropped."""
    from advcompress.codecs import make_codec

    try:
        make_codec(codec, quality).roundtrip(torch.full((1, 3, 16, 16), 0.5))
    except Exception as e:  # a missing plugin raises RuntimeError/KeyError/OSError depending on Pillow
        return f"{type(e).__name__}: {e}"[:200]
    return ""


# -- poisoned training data -----------------------------------------------------------------------


@dataclass
class PoisonSet:
    """Backdoor instances, all labelled with the target class.

    `normal` are x_b = T(x); `pairs_b[i]`, `pairs_c[i]` are an x_b and its compressed version x_bc
    (compressed by `pair_codecs[i]`). `pair_normal[i]` is the index in `normal` of the instance
    that pairs_b[i] equals, or -1 when its base image is not one of the normal instances' (a single
    training codec needs more bases than there are normal instances). The injection rate counts
    every instance the training set receives: IR = N_b / N with N_b = len(normal) + len(pairs_c);
    pairs_b adds no instance (it is a normal instance again, or only the anchor of an L_FC term).
    """

    normal: torch.Tensor
    pairs_b: torch.Tensor
    pairs_c: torch.Tensor
    pair_codecs: list[str]
    n_clean: int
    pair_normal: torch.Tensor | None = None  # None: no pair shares its x_b with a normal instance

    @property
    def n_backdoor(self) -> int:
        return len(self.normal) + len(self.pairs_c)

    @property
    def injection_rate(self) -> float:
        return self.n_backdoor / self.n_clean


def build_poison_set(x_train: torch.Tensor, trigger: Trigger, method: str, n_normal: int,
                     n_compressed: int, codecs: dict, generator: torch.Generator) -> PoisonSet:
    """The backdoor instances of one method.

    common: n_normal + n_compressed normal instances (the paper's common baseline has the same N_b,
    all uncompressed). adversarial and fc: n_normal normal instances plus n_compressed compressed
    ones; compressed instance j is codec j mod C applied to the backdoor version of base image
    j // C, where the bases are the normal instances' images first (so with the paper's 1,000 +
    3,000 and three codecs every normal instance is compressed once by each codec), then further
    random training images when one codec needs more distinct bases.
    """
    n = len(x_train)
    order = torch.randperm(n, generator=generator)
    empty = x_train[:0]
    if method == "common":
        idx = order[: min(n, n_normal + n_compressed)]
        return PoisonSet(trigger.apply(x_train[idx]), empty, empty, [], n)
    if method not in ("adversarial", "fc"):
        raise ValueError(f"unknown backdoor method {method!r}; choose from {METHODS[1:]}")
    names = list(codecs)
    if n_compressed and not names:
        raise ValueError("compressed backdoor instances need at least one training codec")
    normal_idx = order[:n_normal]
    n_bases = math.ceil(n_compressed / len(names)) if n_compressed else 0
    bases = order[: max(n_bases, 0)] if n_bases > n_normal else normal_idx[:n_bases]
    pairs_b, pairs_c, pair_codecs, pair_normal = [], [], [], []
    for k, name in enumerate(names):
        js = [j for j in range(n_compressed) if j % len(names) == k]
        if not js:
            continue
        b = [j // len(names) for j in js]
        xb = trigger.apply(x_train[bases[b]])
        pairs_b.append(xb)
        pairs_c.append(compress_images(xb, name, codecs[name]))
        pair_codecs += [name] * len(js)
        # bases[i] is normal_idx[i] for i < n_normal (both are the head of `order`)
        pair_normal += [i if i < len(normal_idx) else -1 for i in b]
    cat = (lambda t: torch.cat(t)) if pairs_b else (lambda t: empty)
    return PoisonSet(trigger.apply(x_train[normal_idx]), cat(pairs_b), cat(pairs_c), pair_codecs, n,
                     torch.tensor(pair_normal, dtype=torch.long))


# -- training -----------------------------------------------------------------------------------


def lr_at(epoch: int, lr: float, milestones: list[int]) -> float:
    """The paper's step schedule: lr, lr/10 after the first milestone, lr/100 after the second."""
    return lr * 0.1 ** sum(epoch >= m for m in milestones)


def train_classifier(net, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                     lr: float, milestones: list[int], momentum: float, weight_decay: float,
                     generator: torch.Generator, poison: PoisonSet | None = None, method: str = "clean",
                     target: int = 0, alpha: float = 0.1, lambda1: float = 1.0,
                     lambda2: float = 0.0) -> dict:
    """Train in place with SGD on the clean set plus the backdoor instances of `method`.

    Every method trains on the same N_b backdoor instances per epoch, each once (Sec. 4.1: 4,000
    = 1,000 normal + 3,000 compressed for the compression-resistant attack, 4,000 normal for the
    common one). Each step takes `batch_size` clean images and a share of backdoor instances
    proportional to their number. The loss is the mean over the step's instances of L_0, plus
    alpha * L_FC(x_b, x_bc) for every fc pair (Eq. 6): a normal instance x_b and its compressed
    versions x_bc go into the same step, so each x_bc's L_FC reads the x_b the step already trains
    on, and x_b's L_0 is counted once, not once per codec. A pair whose x_b is not a normal instance
    (a single training codec with more bases than normal instances) brings x_b into the step only
    as the anchor of its L_FC term: no L_0, not counted in N_b. history records per epoch
    `backdoor_seen` (instances with an L_0 term), `fc_pairs` and `fc_anchors`.
    """
    device = next(net.parameters()).device
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = len(x)
    steps = math.ceil(n / batch_size)
    singles = _single_instances(poison, method)
    n_pairs = len(poison.pairs_c) if (poison is not None and method == "fc") else 0
    pair_normal = torch.full((n_pairs,), -1, dtype=torch.long)
    if n_pairs and poison.pair_normal is not None:
        pair_normal = poison.pair_normal.clone()
    orphans = (pair_normal < 0).nonzero().flatten()
    per_step_single = math.ceil(len(singles) / steps) if len(singles) else 0
    per_step_orphans = math.ceil(len(orphans) / steps) if len(orphans) else 0
    history = []
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch, lr, milestones)
        net.train()
        perm = torch.randperm(n, generator=generator)
        sperm = torch.randperm(len(singles), generator=generator) if len(singles) else None
        operm = orphans[torch.randperm(len(orphans), generator=generator)] if len(orphans) else None
        totals = {"loss": 0.0, "fc": 0.0}
        counts = {"backdoor_seen": 0, "fc_pairs": 0, "fc_anchors": 0}
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            xs, ys = [x[idx]], [y[idx]]
            j = sperm[s * per_step_single : (s + 1) * per_step_single] if per_step_single else idx[:0]
            first_single = len(idx)
            # fc: the compressed versions of this step's normal instances, then pairs without one.
            attached = torch.isin(pair_normal, j).nonzero().flatten() if n_pairs else idx[:0]
            o = operm[s * per_step_orphans : (s + 1) * per_step_orphans] if per_step_orphans else idx[:0]
            for part in (singles[j] if len(j) else None, poison.pairs_c[attached] if len(attached) else None,
                         poison.pairs_c[o] if len(o) else None):
                if part is not None:
                    xs.append(part)
                    ys.append(torch.full((len(part),), target, dtype=torch.long))
            n_ce = sum(len(t) for t in ys)
            if len(o):
                xs.append(poison.pairs_b[o])  # anchors: features only, no L_0
            # One forward pass over the whole step, so batch norm sees one batch (not tiny pair batches).
            f2, f1, logits = net.head_features(torch.cat(xs).to(device))
            yin = torch.cat(ys).to(device)
            ce = F.cross_entropy(logits[:n_ce], yin, reduction="sum")
            fc_sum = torch.zeros((), device=device)
            if len(attached) or len(o):
                row = torch.full((len(singles),), -1, dtype=torch.long)
                row[j] = first_single + torch.arange(len(j))
                start_c = first_single + len(j)
                rows_b = torch.cat([row[pair_normal[attached]], n_ce + torch.arange(len(o))])
                rows_c = start_c + torch.arange(len(attached) + len(o))
                fc = lambda1 * (f1[rows_b] - f1[rows_c]).norm(dim=1)
                if lambda2:
                    fc = fc + lambda2 * (f2[rows_b] - f2[rows_c]).norm(dim=1)
                fc_sum = fc.sum()
            loss = (ce + alpha * fc_sum) / n_ce
            opt.zero_grad()
            loss.backward()
            opt.step()
            totals["loss"] += float(loss.detach()) / steps
            totals["fc"] += float(fc_sum.detach()) / steps
            counts["backdoor_seen"] += n_ce - len(idx)
            counts["fc_pairs"] += len(attached) + len(o)
            counts["fc_anchors"] += len(o)
        history.append({"epoch": epoch, **totals, **counts})
        log.info("epoch %d/%d (%s): loss %.4f, L_FC sum %.3f", epoch + 1, epochs, method, totals["loss"], totals["fc"])
    net.eval()
    return {"history": history, "final_loss": history[-1]["loss"] if history else math.nan}


def _single_instances(poison: PoisonSet | None, method: str) -> torch.Tensor:
    """Instances trained with plain cross-entropy: normal ones, plus compressed ones for adversarial."""
    if poison is None or method == "clean":
        return torch.empty(0, 3, 1, 1)
    if method == "adversarial":
        return torch.cat([poison.normal, poison.pairs_c])
    return poison.normal


# -- evaluation ---------------------------------------------------------------------------------


def attack_success(net, x_triggered: torch.Tensor, target: int) -> tuple[int, int]:
    """(hits, n): how many backdoor images the network assigns to the target class."""
    from advcompress.classifiers import predict

    pred = predict(net, x_triggered)
    return int((pred == target).sum()), len(pred)
