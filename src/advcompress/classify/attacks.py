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
    import torchattacks

    return torchattacks.DeepFool(model, steps=s["steps"], overshoot=s["overshoot"])


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
