"""Training of the classify study's digits CNN (the network itself is in advcompress.classifiers)."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from advcompress.classifiers import SmallCNN
from advcompress.device import to_python

log = logging.getLogger(__name__)


def train_small_cnn(x: torch.Tensor, y: torch.Tensor, settings: dict, generator: torch.Generator) -> tuple[SmallCNN, dict]:
    """Adam on random mini-batches with small random shifts (digits are centred; shifts regularise)."""
    model = SmallCNN(int(y.max()) + 1, int(settings.get("width", 32)))
    opt = torch.optim.Adam(model.parameters(), lr=float(settings["lr"]))
    bs, epochs = int(settings["batch_size"]), int(settings["epochs"])
    steps_per_epoch = max(1, len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, float(settings["lr"]), total_steps=epochs * steps_per_epoch)
    model.train()
    history = []
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=generator)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * bs : (i + 1) * bs]
            xb = _random_shift(x[idx], 2, generator)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())
        # one host transfer per epoch; summed in Python in step order, as a per-step float() did
        history.append(sum(to_python(torch.stack(losses))) / steps_per_epoch)
        log.info("epoch %d: loss %.4f", epoch + 1, history[-1])
    model.eval()
    return model, {"loss_history": history}


def _random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))
