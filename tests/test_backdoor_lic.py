"""Frequency-trigger encoder backdoor: DCT, trigger budget, frozen decoder, defenses (library-level)."""

from __future__ import annotations

import pytest
import torch

from advcompress.backdoor.dct import dct_matrix, middle_band
from advcompress.backdoor.lic_trigger import (
    FrequencyTrigger,
    _rd,
    budget_at,
    finetune_encoder,
    frozen_differences,
    frozen_state,
    gaussian_blur,
    squeeze_bits,
)
from advcompress.codecs import make_codec


def test_dct_is_orthonormal_and_middle_band_is_the_middle():
    d = dct_matrix(16)
    assert torch.allclose(d @ d.t(), torch.eye(16), atol=1e-5)
    band = middle_band(16, 64)
    assert len(set(band.tolist())) == 64
    assert 0 not in band.tolist() and 255 not in band.tolist()  # neither DC nor the highest frequency
    with pytest.raises(ValueError):
        middle_band(8, 65)


def test_trigger_respects_the_mse_bound_and_uses_k_frequencies():
    torch.manual_seed(0)
    t = FrequencyTrigger(block=16, n_freq=64, k=16, eps=0.005)
    with torch.no_grad():
        t.head.weight.mul_(50)  # an eager trigger that wants far more than the budget
        x = torch.rand(3, 3, 64, 64) * 0.5 + 0.25  # no clipping, so the projection alone binds
        delta, selected = t.perturbation(x)
        xp = t(x)
    mse = (xp - x).pow(2).flatten(1).mean(1)
    assert torch.all(mse <= 0.005**2 * (1 + 1e-4))
    assert torch.all(mse >= 0.005**2 * 0.99)  # projected onto the bound, not far inside it
    assert torch.all(selected.sum(1) == 16)
    coeffs = t.dct @ delta[0, 0, :16, :16] @ t.dct.t()
    nonzero = (coeffs.abs() > 1e-6).flatten().nonzero().flatten()
    assert set(nonzero.tolist()) <= set(t.freqs.tolist()) and len(nonzero) <= 16
    assert torch.allclose(delta[..., :16, :16], delta[..., 16:32, 16:32])  # same in every block


def test_hinge_penalty_is_flat_inside_the_budget():
    t = FrequencyTrigger(eps=0.01)
    x = torch.zeros(1, 3, 16, 16)
    assert float(t.penalty(x, x + 0.001)) == pytest.approx(0.01**2)
    assert float(t.penalty(x, x + 0.1)) == pytest.approx(0.1**2, rel=1e-5)


class _Photos:
    def __init__(self, photos):
        self.photos = photos

    def batch(self, n):
        return torch.cat([p[..., :32, :32] for p in self.photos])[:n]


def test_finetuning_changes_only_g_a(photos):
    torch.manual_seed(0)
    codec = make_codec("bmshj2018-hyperprior", 2, weights="untrained", widths={"N": 16, "M": 16})
    before = {k: v.clone() for k, v in codec.net.state_dict().items()}
    reference = frozen_state(codec)
    out = finetune_encoder(codec, _Photos(photos), {"bpp": {"alpha": 1.0, "beta": 1.0},
                                                    "psnr": {"alpha": 1.0, "beta": 1.0}},
                           steps=2, batch_size=2, lr=1e-3, trigger_lr=1e-3, gamma=1.0,
                           trigger_cfg={"block": 8, "n_freq": 16, "k": 4, "eps": 0.005, "hidden": 4})
    assert set(out["triggers"]) == {"bpp", "psnr"}
    assert frozen_differences(codec, reference) == []
    after = codec.net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("g_a.") for k in changed)
    # The check itself can fail: a touched decoder weight is reported.
    with torch.no_grad():
        next(codec.net.g_s.parameters()).add_(1e-6)
    assert any(k.startswith("g_s.") for k in frozen_differences(codec, reference))


def test_masked_context_model_is_not_a_changed_frozen_tensor(photos):
    """Cheng2020-anchor (the paper tier's LIC backdoor codec) failed every backdoor_lic_train job
    with 'fine-tuning changed frozen tensors outside g_a: [context_prediction.weight]': its
    MaskedConv2d zeroes the masked entries of its weight on the first forward, and a checkpoint
    holds them non-zero (found by the CPU rehearsal of the paper DAG). A real change to the
    context model is still reported."""
    torch.manual_seed(0)
    codec = make_codec("mbt2018", 2, weights="untrained", widths={"N": 16, "M": 16})
    w = codec.net.context_prediction.weight
    assert (w * (1 - codec.net.context_prediction.mask)).abs().sum() > 0  # masked entries non-zero
    reference = frozen_state(codec)
    finetune_encoder(codec, _Photos(photos), {"bpp": {"alpha": 1.0, "beta": 1.0}},
                     steps=1, batch_size=2, lr=1e-3, trigger_lr=1e-3, gamma=1.0,
                     trigger_cfg={"block": 8, "n_freq": 16, "k": 4, "eps": 0.005, "hidden": 4})
    assert frozen_differences(codec, reference) == []
    with torch.no_grad():
        w[0, 0, 0, 0] += 1e-3  # an unmasked entry (above the centre row)
    assert frozen_differences(codec, reference) == ["context_prediction.weight"]


def test_defenses():
    x = torch.rand(1, 3, 8, 8)
    levels = torch.unique(squeeze_bits(x, 3) * 7)
    assert torch.allclose(levels, levels.round()) and len(levels) <= 8
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 0.6), flat, atol=1e-6)
    noisy = torch.rand(1, 3, 32, 32)
    assert gaussian_blur(noisy, 0.6).std() < noisy.std()


def test_budget_warm_up_holds_then_fades_geometrically_to_eps():
    cur = {"eps_start": 0.2, "hold": 0.2, "anneal": 0.6}
    assert budget_at(0, 100, 0.005, None) == 0.005
    assert budget_at(0, 100, 0.005, cur) == budget_at(20, 100, 0.005, cur) == pytest.approx(0.2)
    assert budget_at(50, 100, 0.005, cur) == pytest.approx((0.2 * 0.005) ** 0.5)  # halfway, geometric
    assert budget_at(80, 100, 0.005, cur) == budget_at(99, 100, 0.005, cur) == pytest.approx(0.005)
    budgets = [budget_at(i, 100, 0.005, cur) for i in range(100)]
    assert all(a >= b for a, b in zip(budgets, budgets[1:], strict=False))


def test_curriculum_triggers_end_at_the_stealth_bound(photos):
    torch.manual_seed(0)
    codec = make_codec("bmshj2018-hyperprior", 2, weights="untrained", widths={"N": 16, "M": 16})
    cfg = {"block": 8, "n_freq": 16, "k": 4, "eps": 0.005, "hidden": 4}
    kwargs = dict(steps=4, batch_size=2, lr=1e-3, trigger_lr=1e-3, gamma=1.0, trigger_cfg=cfg)
    out = finetune_encoder(codec, _Photos(photos), {"bpp": {"alpha": 1.0, "beta": 1.0}},
                           curriculum={"eps_start": 0.1, "hold": 0.5, "anneal": 0.25}, **kwargs)
    assert [round(h["eps"], 6) for h in out["history"]][:2] == [0.1, 0.1]
    assert out["history"][-1]["eps"] == pytest.approx(0.005)
    t = out["triggers"]["bpp"]
    assert t.eps == 0.005
    with torch.no_grad():
        assert float((t(photos[0]) - photos[0]).pow(2).mean()) <= 0.005**2 * (1 + 1e-4)
    with pytest.raises(ValueError, match=r"hold \+ anneal"):
        finetune_encoder(codec, _Photos(photos), {"bpp": {"alpha": 1.0, "beta": 1.0}},
                         curriculum={"eps_start": 0.1, "hold": 0.6, "anneal": 0.6}, **kwargs)


def test_one_forward_pass_over_several_batches_equals_one_pass_each(photos):
    torch.manual_seed(0)
    codec = make_codec("bmshj2018-hyperprior", 2, weights="untrained", widths={"N": 16, "M": 16})
    a, b = photos[0][..., :32, :32], photos[1][..., :32, :32]
    with torch.no_grad():
        joint = _rd(codec, [a, b], proxy="ste")
        alone = [_rd(codec, [x], proxy="ste")[0] for x in (a, b)]
    for (xh1, r1, d1), (xh2, r2, d2) in zip(joint, alone, strict=True):
        assert torch.allclose(xh1, xh2, atol=1e-5) and torch.allclose(r1, r2, rtol=1e-5)
        assert torch.allclose(d1, d2, rtol=1e-4)


def test_ds_rows_cover_the_whole_test_split_with_asr_on_non_target_digits(tmp_path):
    """Every test digit, clean and triggered, through both encoders (batched real coding); the
    table's ASR rests on the non-target digits and its accuracy on all, each with its own n."""
    import pandas as pd

    from advcompress.backdoor.lic_eval import _ds_rows
    from advcompress.backdoor.report import lic_table
    from advcompress.classifiers import SmallResNet, save_classifier
    from advcompress.data import load_digits_split, prepare_digits

    prepare_digits(tmp_path / "digits", 32, 0.05, 0)  # a 90-digit test split: the whole of it, 5x cheaper
    _, yt = load_digits_split(tmp_path / "digits", "test")
    torch.manual_seed(0)
    save_classifier(SmallResNet(10, 4, (1, 1, 1, 1)), tmp_path / "clf.pt")
    codec = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 16, "M": 24}).eval()
    base = {"model": "m", "quality": 1, "frozen_identical": True}
    rows = pd.DataFrame(_ds_rows(base, codec, codec, lambda x: (x + 0.1).clamp(0, 1), tmp_path / "digits",
                                 tmp_path / "clf.pt", 3, None, "cpu"))
    n, n_target = len(yt), int((yt == 3).sum())
    assert len(rows) == 4 * n and rows.image.nunique() == n and n_target > 0
    assert rows.hit_target.isna().sum() == 4 * n_target and (rows[rows.hit_target.isna()].label == 3).all()
    photo = {**base, "image": "photo", "encoder": "original", "trigger": "none", "bpp_actual": 1.0, "bpp_est": 1.0,
             "psnr_db": 30.0, "psnr_vs_clean_db": 30.0, "trigger_mse": 0.0, "error": ""}
    t = lic_table(pd.concat([pd.DataFrame([photo]), rows], ignore_index=True), "table3", {"seed": 0})
    t = t[t.trigger.str.startswith("digits:")]
    assert len(t) == 4 and (t.n_images == n).all() and (t.n_asr == n - n_target).all()
    assert t.ds_asr.between(0, 1).all() and t.ds_accuracy.between(0, 1).all()


class _BrightnessCodec:
    """A stand-in codec with per-image rates and distortions that are easy to order: the rate is
    the image's mean brightness (in bpp) and the reconstruction is x squared."""

    def forward(self, x, proxy="ste"):
        per_pixel = torch.exp2(-x.mean((1, 2, 3)))[:, None].expand(-1, x.shape[-2] * x.shape[-1])
        return {"x_hat": x.pow(2), "likelihoods": {"y": per_pixel}}


class _SwapTrigger(torch.nn.Module):
    """T(x) swaps the two images of a batch: each image's triggered copy is the other image."""

    def forward(self, x):
        return x.flip(0)

    def triggered(self, x):  # (T(x), its unprojected form): the same here
        return x.flip(0), x.flip(0)

    def penalty(self, x, xp):
        return x.new_zeros(())


def test_eqs_7_and_8_take_each_max_per_image(photos):
    """Eqs. 7-8 sum over images with the max inside: max(D(x), D(T(x))) and max(R(x), R(T(x)))
    compare each image with its own triggered copy. With T swapping a bright and a dark image, a
    max of batch means gives mean R instead of the larger R, so it is caught here."""
    from advcompress.backdoor.lic_trigger import objective_losses
    from advcompress.metrics import mse255, psnr_from_mse255

    x = torch.cat([photos[0][..., :32, :32], photos[1][..., :32, :32]])
    codec, lmbda = _BrightnessCodec(), 0.01
    objectives = {"bpp": {"beta": 0.5}, "psnr": {"beta": 0.1}}
    out = objective_losses(codec, {"bpp": _SwapTrigger(), "psnr": _SwapTrigger()}, objectives, x, lmbda, "ste")
    r, d = x.mean((1, 2, 3)), mse255(x.pow(2), x)
    rt, dt = r.flip(0), d.flip(0)
    assert not torch.allclose(r, rt, rtol=1e-2) and not torch.allclose(d, dt, rtol=1e-2)
    psnr_t = psnr_from_mse255(mse255(x.flip(0).pow(2), x)).mean()
    want_bpp = r.mean() + lmbda * torch.maximum(d, dt).mean() - 0.5 * rt.mean()
    want_psnr = torch.maximum(r, rt).mean() + lmbda * d.mean() + 0.1 * lmbda * psnr_t
    assert float(out["bpp"][0]) == pytest.approx(float(want_bpp), rel=1e-5)
    assert float(out["psnr"][0]) == pytest.approx(float(want_psnr), rel=1e-5)
    # and the batch-mean forms really differ on this batch
    assert float(torch.maximum(r, rt).mean()) > float(torch.maximum(r.mean(), rt.mean())) + 1e-3
    assert float(torch.maximum(d, dt).mean()) > float(torch.maximum(d.mean(), dt.mean())) + 1e-3


def test_amplified_trigger_multiplies_the_perturbation_within_the_clamp():
    """Table 6: x3 sends x + 3 delta (delta the budget-projected perturbation of T(x)), clipped to
    [0, 1]; away from the clip its MSE is 9 times T(x)'s, at most 9 eps^2 = 2.25e-4."""
    torch.manual_seed(0)
    t = FrequencyTrigger(block=16, n_freq=64, k=16, eps=0.005)
    with torch.no_grad():
        t.head.weight.mul_(50)
        x = torch.rand(2, 3, 32, 32) * 0.5 + 0.25  # 3 delta (|delta| < 0.1) stays inside [0, 1]
        d1, d3 = t(x) - x, t.amplified(x, 3.0) - x
        assert torch.allclose(d3, 3 * d1, atol=1e-6) and d1.abs().max() > 1e-3
        mse = d3.pow(2).flatten(1).mean(1)
        assert torch.allclose(mse, 9 * d1.pow(2).flatten(1).mean(1), rtol=1e-4)
        assert torch.all(mse <= 9 * 0.005**2 * (1 + 1e-4))
        edge = torch.full((1, 3, 32, 32), 0.99)  # near white: x3 pushes pixels past 1, and they are clipped
        delta = t.perturbation(edge)[0]
        bright = t.amplified(edge, 3.0)
        assert (edge + 3 * delta).max() > 1 and bright.max() <= 1
        assert torch.allclose(bright, (edge + 3 * delta).clamp(0, 1))


def test_table6_sets_each_amplified_cell_beside_the_same_defense_at_x1():
    """Rows of defenses the amplified run did not code (blur 0.2) leave Table 6; x1 cells come from
    the defense rows, x3 cells from the amplified rows, each a mean over its own images."""
    import pandas as pd

    from advcompress.backdoor.report import lic_table

    base = {"model": "m", "quality": 4, "error": ""}
    defense = [{**base, "image": i, "defense": d, "value": v, "trigger": t, "psnr_vs_clean_db": 10.0 + i,
                "bpp_actual": 1.0, "trigger_mse": 2.5e-5}
               for i in range(3) for d, v in [("none", ""), ("blur", 0.2), ("blur", 0.6)] for t in ["none", "psnr"]]
    amplified = [{**base, "image": i, "defense": d, "value": v, "trigger": "psnr", "amplify": 3.0,
                  "psnr_vs_clean_db": 4.0 + i, "bpp_actual": 1.0, "trigger_mse": 2.2e-4}
                 for i in range(3) for d, v in [("none", ""), ("blur", 0.6)]]
    t = lic_table(pd.concat([pd.DataFrame(defense), pd.DataFrame(amplified)], ignore_index=True), "table6",
                  {"seed": 0})
    assert set(zip(t.defense, t.value, t.amplify, strict=True)) == {
        ("none", "", 1.0), ("none", "", 3.0), ("blur", "0.6", 1.0), ("blur", "0.6", 3.0)}
    assert (t.trigger == "psnr").all() and (t.n_images == 3).all()
    assert sorted(t.psnr_vs_clean_db) == [5.0, 5.0, 11.0, 11.0]


def test_lira_trigger_is_image_specific_within_the_budget_and_survives_save_and_load(tmp_path):
    """The LIRA baseline's generator writes a per-image pixel-space perturbation (no block period),
    projected onto the same budget; its gradient reaches the generator; a saved backdoor loads it
    back as a LIRA trigger with the same output."""
    from advcompress.backdoor.lic_trigger import (
        LiraTrigger,
        load_triggers,
        make_trigger,
        save_backdoor,
    )

    torch.manual_seed(0)
    t = make_trigger({"kind": "lira", "block": 16, "n_freq": 64, "k": 16, "eps": 0.005, "hidden": 8})
    assert isinstance(t, LiraTrigger)
    with torch.no_grad():
        t.net[-1].weight.mul_(50)  # an eager generator that wants more than the budget
    x = torch.rand(2, 3, 33, 47) * 0.5 + 0.25  # odd sizes: the generator pads and crops back
    delta, _ = t.perturbation(x)
    mse = delta.pow(2).flatten(1).mean(1)
    assert delta.shape == x.shape and torch.all(mse <= 0.005**2 * (1 + 1e-4)) and torch.all(mse >= 0.005**2 * 0.99)
    assert not torch.allclose(delta[0], delta[1], atol=1e-5)  # image-specific
    assert not torch.allclose(delta[..., :16, :16], delta[..., 16:32, 16:32], atol=1e-5)  # not a tiled pattern
    t.penalty(x, t.triggered(x)[1]).backward()
    assert t.net[0].weight.grad.abs().sum() > 0
    codec = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 16, "M": 24})
    save_backdoor(tmp_path / "b.pt", codec, {"psnr": t}, {})
    back = load_triggers(tmp_path / "b.pt")["psnr"]
    assert isinstance(back, LiraTrigger)
    with torch.no_grad():
        assert torch.allclose(back(x), t.eval()(x))
    with pytest.raises(ValueError, match="unknown trigger kind"):
        make_trigger({"kind": "patch"})


def test_lira_table_sets_each_method_apart():
    """Rows coded with LIRA's trigger (method lira) and the frequency trigger (no method: older rows)
    give their own cells, each the mean of its own images."""
    import pandas as pd

    from advcompress.backdoor.report import lic_table

    base = {"model": "m", "quality": 4, "error": "", "defense": "none", "value": "", "trigger": "psnr",
            "bpp_actual": 1.0}
    ours = [{**base, "image": i, "psnr_vs_clean_db": 5.0 + i} for i in range(3)]
    lira = [{**base, "image": i, "psnr_vs_clean_db": 20.0 + i, "method": "lira"} for i in range(3)]
    seg = [{"model": "m", "quality": 4, "error": "", "image": i, "encoder": "backdoored", "trigger": "seg",
            "method": method, "pixel_asr": asr + 0.1 * i, "other_accuracy": 0.9, "output_mse": 1e-3,
            "bpp_actual": 1.0, "psnr_vs_clean_db": 20.0} for i in range(3) for method, asr in [("frequency", 0.5),
                                                                                               ("lira", 0.2)]]
    t = lic_table(pd.concat([pd.DataFrame(ours), pd.DataFrame(lira), pd.DataFrame(seg)], ignore_index=True), "lira",
                  {"seed": 0})
    photo, table1 = t[t.part.str.startswith("defenses")], t[t.part.str.startswith("segmentation")]
    assert dict(zip(photo.method, photo.psnr_vs_clean_db, strict=True)) == {"frequency": 6.0, "lira": 21.0}
    assert dict(zip(table1.method, table1.pixel_asr.round(6), strict=True)) == {"frequency": 0.6, "lira": 0.3}
