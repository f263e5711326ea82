"""The one registry of classifier attacks: name -> torchattacks constructor with the paper's settings.

L-inf attacks (FGSM, iFGSM = BIM, PGD) take a budget eps in pixel units of [0, 1]; the minimal-
perturbation attacks (CW, DeepFool) take none and are reported at L2 thresholds instead.
Settings override the paper's defaults (Table 3 of the human-aligned defense paper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ClassifierAttack:
    name: str
    norm: str  # "linf": budgeted by eps; "l2": minimal perturbation, thresholded afterwards
    build: Callable  # build(model, eps, settings) -> torchattacks.Attack
    defaults: dict


def _fgsm(model, eps, s):
    import torchattacks

    return torchattacks.FGSM(model, eps=eps)


def _ifgsm(model, eps, s):
    import torchattacks

    return torchattacks.BIM(model, eps=eps, alpha=eps * s["alpha_over_eps"], steps=s["steps"])


def _pgd(model, eps, s):
    import torchattacks

    return torchattacks.PGD(model, eps=eps, alpha=eps * s["alpha_over_eps"], steps=s["steps"],
                            random_start=s["random_start"])


def _cw(model, eps, s):
    import torchattacks

    return torchattacks.CW(model, c=s["c"], kappa=s["kappa"], steps=s["steps"], lr=s["lr"])


def _deepfool(model, eps, s):
    return BatchedDeepFool(model, steps=s["steps"], overshoot=s["overshoot"])


class BatchedDeepFool:
    """DeepFool with torchattacks' update rule, on the whole batch at once.

    torchattacks.DeepFool walks the images one by one and builds each Jacobian with one backward
    per class (about 0.7 s per digit and step on one core); here one forward and one backward per
    class serve every image still to be fooled. Per image it is the same algorithm: stop once the
    prediction leaves the label; otherwise step to the nearest linearised class boundary, scaled by
    1 + overshoot and clipped to [0, 1]; at most `steps` rounds. The model must treat images
    independently (eval mode), which every classifier here does.
    """

    def __init__(self, model: torch.nn.Module, steps: int = 50, overshoot: float = 0.02):
        self.model, self.steps, self.overshoot = model, int(steps), float(overshoot)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                return self._run(x.detach(), y)
        finally:
            self.model.train(was_training)

    def _run(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        adv = x.clone()
        active = torch.arange(len(x), device=x.device)
        for _ in range(self.steps):
            xa = adv[active].requires_grad_(True)
            logits = self.model(xa)
            still = logits.argmax(1) == y[active]
            if not bool(still.all()):  # one host sync per round, not per image
                active = active[still]
                if active.numel() == 0:
                    break
                xa = adv[active].requires_grad_(True)
                logits = self.model(xa)
            n, k = logits.shape
            jac = torch.stack([torch.autograd.grad(logits[:, c].sum(), xa, retain_graph=c + 1 < k)[0]
                               for c in range(k)], 1)  # N x K x C x H x W
            ya = y[active]
            f = (logits - logits.gather(1, ya[:, None])).detach()  # f_k - f_label
            w = jac - jac[torch.arange(n, device=x.device), ya][:, None]  # w_k - w_label
            w_norm = w.flatten(2).norm(dim=2)
            dist = (f.abs() / w_norm).scatter(1, ya[:, None], float("inf"))
            hat = dist.argmin(1)
            idx = torch.arange(n, device=x.device)
            w_hat, f_hat = w[idx, hat], f[idx, hat]
            delta = f_hat.abs().view(-1, 1, 1, 1) * w_hat / w_norm[idx, hat].pow(2).view(-1, 1, 1, 1)
            adv[active] = (xa.detach() + (1 + self.overshoot) * delta).clamp(0, 1)
        return adv


ATTACKS: dict[str, ClassifierAttack] = {
    a.name: a
    for a in [
        ClassifierAttack("fgsm", "linf", _fgsm, {}),
        ClassifierAttack("ifgsm", "linf", _ifgsm, {"alpha_over_eps": 0.25, "steps": 10}),
        ClassifierAttack("pgd", "linf", _pgd, {"alpha_over_eps": 0.25, "steps": 10, "random_start": True}),
        ClassifierAttack("cw", "l2", _cw, {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01}),
        ClassifierAttack("deepfool", "l2", _deepfool, {"steps": 50, "overshoot": 0.02}),
    ]
}


def get_attack(name: str) -> ClassifierAttack:
    try:
        return ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown classifier attack {name!r}; registered: {', '.join(sorted(ATTACKS))}") from None


def run_attack(name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.0,
               settings: dict | None = None, batch_size: int = 64) -> torch.Tensor:
    """Adversarial images for (x, y), clipped to [0, 1]; an L-inf attack at eps = 0 returns x."""
    attack = get_attack(name)
    if attack.norm == "linf" and eps == 0:
        return x.clone()
    s = {**attack.defaults, **(settings or {})}
    atk = attack.build(model, float(eps), s)
    out = [atk(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(out).detach().clamp(0, 1)
