"""The frequency trigger's stealth term (Eqs. 3 and 11 of the frequency-trigger paper).

The trigger is projected onto MSE <= eps^2 before use, so the paper's hinge
gamma * max(MSE(x, T(x)), eps^2) is taken on the network's unprojected output: on the projected
trigger it is the constant eps^2, its gradient zero and gamma without effect.
"""

from __future__ import annotations

import pytest
import torch

from advcompress.backdoor.lic_trigger import FrequencyTrigger, finetune_encoder, objective_losses
from advcompress.codecs import make_codec
from advcompress.codecs.learned import lambda_for

CFG = {"block": 8, "n_freq": 16, "k": 4, "eps": 0.001, "hidden": 4}  # a budget the fresh trigger exceeds


class _Photos:
    def __init__(self, photos):
        self.photos = photos

    def batch(self, n):
        return torch.cat([p[..., :32, :32] for p in self.photos])[:n]


def _small_codec():
    torch.manual_seed(0)
    return make_codec("bmshj2018-hyperprior", 2, weights="untrained", widths={"N": 16, "M": 16}).eval()


def test_hinge_acts_on_the_unprojected_trigger_and_the_used_trigger_keeps_the_budget(photos):
    torch.manual_seed(0)
    t = FrequencyTrigger(**CFG)
    x = photos[0][..., :32, :32]
    xp, xraw = t.triggered(x)
    mse = lambda a: float((a - x).detach().pow(2).mean())  # noqa: E731
    assert mse(xraw) > 2 * CFG["eps"] ** 2  # the network asks for more than the budget ...
    assert mse(xp) <= CFG["eps"] ** 2 * (1 + 1e-4)  # ... and the trigger that is used keeps it
    with torch.no_grad():
        assert torch.equal(xp, t(x))  # the same trigger the evaluation codes
    assert float(t.penalty(x, xraw).detach()) == pytest.approx(mse(xraw), rel=1e-5)


def test_stealth_term_has_a_gradient_and_gamma_changes_the_trigger_gradient(photos):
    """The hinge returned by objective_losses (the one finetune_encoder weights by gamma) has a
    nonzero gradient on the trigger's parameters where the trigger exceeds the budget, so the
    trigger's total gradient depends on gamma."""
    codec = _small_codec()
    for p in codec.parameters():
        p.requires_grad_(False)
    x = torch.cat([p[..., :32, :32] for p in photos])
    objectives = {"bpp": {"alpha": 1.0, "beta": 1.0}, "psnr": {"alpha": 1.0, "beta": 1.0}}
    torch.manual_seed(1)
    triggers = {o: FrequencyTrigger(**CFG) for o in objectives}
    lmbda = lambda_for(codec.quality)

    def grads(gamma):
        for t in triggers.values():
            t.zero_grad()
        out = objective_losses(codec, triggers, objectives, x, lmbda, "ste")
        sum(loss + gamma * pen for loss, pen, _ in out.values()).backward()
        return {o: torch.cat([p.grad.flatten() for p in t.parameters()]) for o, t in triggers.items()}

    for o in objectives:
        pen = objective_losses(codec, {o: triggers[o]}, {o: objectives[o]}, x, lmbda, "ste")[o][1]
        assert float(pen.detach()) > CFG["eps"] ** 2
        g = torch.autograd.grad(pen, list(triggers[o].head.parameters()))
        assert max(float(v.abs().max()) for v in g) > 0, o
    g0, g1 = grads(0.0), grads(10.0)
    for o in objectives:
        assert not torch.allclose(g0[o], g1[o]), o


def test_gamma_changes_the_trained_trigger(photos):
    def train(gamma):
        codec = _small_codec()
        torch.manual_seed(0)
        out = finetune_encoder(codec, _Photos(photos), {"bpp": {"alpha": 1.0, "beta": 1.0}}, steps=3,
                               batch_size=2, lr=1e-3, trigger_lr=1e-2, gamma=gamma, trigger_cfg=CFG,
                               proxy="noise", generator=torch.Generator().manual_seed(0))
        return out["triggers"]["bpp"].state_dict(), out["history"]

    (s0, h0), (s1, h1) = train(0.0), train(1e4)
    assert h0[0]["hinge_bpp"] == h1[0]["hinge_bpp"] > 2 * CFG["eps"] ** 2  # same start, hinge active
    # A strong stealth term pulls the unprojected trigger towards the budget (measured: 4.5e-6 ->
    # 2.2e-6 in three steps with gamma 1e4, 4.5e-6 -> 4.8e-6 with gamma 0); with the hinge on the
    # projected trigger both runs stay at eps^2 = 1e-6 and this fails.
    assert h1[-1]["hinge_bpp"] < 0.75 * h0[-1]["hinge_bpp"]
    assert any(not torch.equal(s0[k], s1[k]) for k in s0)
