"""Compression-resistant classifier backdoor: triggers, poisoning, run planning (fast, library-level)."""

from __future__ import annotations

import pytest
import torch

from advcompress.backdoor.compression_resistant import build_poison_set, compress_images, lr_at
from advcompress.backdoor.runs import plan_runs, runs_of
from advcompress.backdoor.triggers import Trigger, make_trigger, trojannn_trigger
from advcompress.classifiers import SmallResNet


def _images(n=12, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).round() / 255


def test_gaussian_trigger_is_seeded_additive_and_clipped():
    a = make_trigger("g", {"kind": "gaussian", "sigma": 0.1}, 32, seed=3)
    b = make_trigger("g", {"kind": "gaussian", "sigma": 0.1}, 32, seed=3)
    assert torch.equal(a.delta, b.delta)
    x = _images(4)
    xb = a.apply(x)
    assert xb.min() >= 0 and xb.max() <= 1
    assert torch.allclose(xb * 255, (xb * 255).round(), atol=1e-4)  # 8-bit image file
    inside = ((x + a.delta) > 0.01) & ((x + a.delta) < 0.99)
    assert torch.allclose((xb - x)[inside], a.delta.expand_as(x)[inside], atol=1 / 255)
    assert abs(float(a.delta.std()) - 0.1) < 0.01


def test_trigger1_and_2_are_attributed_to_the_papers_reference_22():
    """The paper cites [22] (Zhang et al. 2018, DNN watermarking) for the Gaussian-noise and logo
    triggers; [7] (Chen et al. 2017) is another backdoor. A documentation check."""
    from advcompress.backdoor import triggers

    for fn in (triggers.gaussian_trigger, triggers.logo_trigger):
        doc = " ".join(fn.__doc__.split())
        assert "Zhang et al" in doc and "[22]" in doc, fn.__name__
    assert "Trigger1 (Chen et al" not in " ".join(triggers.gaussian_trigger.__doc__.split())


def test_logo_trigger_renders_text_inside_the_image():
    t = make_trigger("l", {"kind": "logo", "text": "TEST", "amplitude": 0.5}, 32, seed=0)
    m = t.mask[0]
    assert 20 < int(m.sum()) < 32 * 16  # some text pixels, not a full block
    assert m[:16].sum() == 0  # drawn along the bottom edge
    x = torch.zeros(1, 3, 32, 32)
    assert float(t.apply(x).max()) > 0.3


def test_trojannn_trigger_excites_the_chosen_neurons_more_than_a_random_patch():
    torch.manual_seed(0)
    net = SmallResNet(width=4, blocks=(1, 1, 1, 1)).eval()
    t = trojannn_trigger("t", net, 32, patch=8, neurons=2, steps=40, lr=0.2, seed=0)
    strength = net.body[-1].conv2.weight.abs().sum(dim=(1, 2, 3))
    chosen = strength.topk(2).indices
    rand = Trigger("r", "trojannn", torch.rand(3, 32, 32) * t.mask, t.mask, stamp=True)
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        act_t = net.head_features(t.apply(x))[1][0, chosen].mean()
        act_r = net.head_features(rand.apply(x))[1][0, chosen].mean()
    assert act_t > act_r
    assert torch.equal(t.apply(x) * (1 - t.mask), x * (1 - t.mask))  # stamped only inside the patch


def test_poison_set_pairs_are_real_compressions_and_ir_counts_every_instance():
    x = _images(40)
    trig = make_trigger("g", {"kind": "gaussian", "sigma": 0.05}, 32, seed=0)
    codecs = {"jpeg": 50, "webp": 50}
    p = build_poison_set(x, trig, "fc", 5, 10, codecs, torch.Generator().manual_seed(0))
    assert len(p.normal) == 5 and len(p.pairs_c) == 10 and p.n_backdoor == 15
    assert abs(p.injection_rate - 15 / 40) < 1e-12
    assert p.pair_codecs.count("jpeg") == 5 and p.pair_codecs.count("webp") == 5
    first_jpeg = p.pair_codecs.index("jpeg")
    again = compress_images(p.pairs_b[first_jpeg : first_jpeg + 1], "jpeg", 50)
    assert torch.equal(again, p.pairs_c[first_jpeg : first_jpeg + 1])
    assert not torch.equal(p.pairs_b, p.pairs_c)
    common = build_poison_set(x, trig, "common", 5, 10, codecs, torch.Generator().manual_seed(0))
    assert len(common.normal) == 15 and len(common.pairs_c) == 0  # same N_b, all uncompressed


def test_single_codec_runs_use_distinct_base_images():
    x = _images(40)
    trig = make_trigger("g", {"kind": "gaussian", "sigma": 0.05}, 32, seed=0)
    p = build_poison_set(x, trig, "adversarial", 4, 12, {"jpeg": 50}, torch.Generator().manual_seed(1))
    flat = p.pairs_b.flatten(1)
    assert len(torch.unique(flat, dim=0)) == 12


def _train_and_count(method, poison, x, y):
    """Train one epoch and count, independently of the trainer's own bookkeeping, the images that
    went through the network (each poison image by its bytes) and how many of them got an L_0."""
    from collections import Counter

    from advcompress.backdoor.compression_resistant import train_classifier

    torch.manual_seed(0)
    net = SmallResNet(width=4, blocks=(1, 1, 1, 1))
    seen, ce_rows = Counter(), []
    features = net.head_features

    def spy_features(inp):
        seen.update(r.numpy().tobytes() for r in inp.detach().cpu())
        return features(inp)

    ce = torch.nn.functional.cross_entropy

    def spy_ce(logits, target, **kw):
        ce_rows.append(len(target))
        return ce(logits, target, **kw)

    net.head_features = spy_features
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.functional, "cross_entropy", spy_ce)
        out = train_classifier(net, x, y, epochs=1, batch_size=8, lr=0.01, milestones=[], momentum=0.0,
                               weight_decay=0.0, generator=torch.Generator().manual_seed(0), poison=poison,
                               method=method, target=0, alpha=0.1)
    return seen, sum(ce_rows) - len(x), out["history"][0]


def test_every_method_trains_on_the_same_number_of_poisoned_samples_per_epoch():
    """Sec. 4.1: N_b = 4,000 backdoor instances for the common attack (all normal) and for the
    compression-resistant ones (1,000 normal + 3,000 compressed), adversarial or fc. An fc pair must
    not bring its x_b in again: each normal instance is trained on once per epoch, not once per codec."""
    x = _images(40)
    y = torch.randint(10, (40,), generator=torch.Generator().manual_seed(0))
    trig = make_trigger("g", {"kind": "gaussian", "sigma": 0.05}, 32, seed=0)
    codecs = {"jpeg": 50, "jpeg2000": 30, "webp": 50}
    key = lambda t: t.numpy().tobytes()  # noqa: E731
    runs = {}
    for method in ("common", "adversarial", "fc"):
        p = build_poison_set(x, trig, method, 4, 12, codecs, torch.Generator().manual_seed(0))
        assert p.n_backdoor == 16
        runs[method] = (p, *_train_and_count(method, p, x, y))
    # poisoned samples with an L_0 term per epoch (the old fc trained 4 + 2 * 12 = 28)
    assert {m: r[2] for m, r in runs.items()} == {"common": 16, "adversarial": 16, "fc": 16}
    for method, (p, seen, poisoned, hist) in runs.items():
        instances = list(p.normal) + list(p.pairs_c)
        assert [seen[key(t)] for t in instances] == [1] * 16, method  # every instance once per epoch
        assert sum(seen.values()) == 40 + 16, method  # and nothing else poisoned
        assert hist["backdoor_seen"] == poisoned
    assert hist["fc_pairs"] == 12 and hist["fc_anchors"] == 0
    # every x_b of a pair is one of the normal instances, the one pair_normal names
    assert torch.equal(p.pairs_b, p.normal[p.pair_normal])


def test_fc_with_one_codec_counts_extra_bases_only_as_feature_anchors():
    """One training codec needs more bases than there are normal instances: the x_b of those pairs
    enter L_FC as anchors (no L_0), so fc still trains on N_b poisoned samples with a loss."""
    x = _images(40)
    y = torch.randint(10, (40,), generator=torch.Generator().manual_seed(0))
    trig = make_trigger("g", {"kind": "gaussian", "sigma": 0.05}, 32, seed=0)
    p = build_poison_set(x, trig, "fc", 4, 12, {"jpeg": 50}, torch.Generator().manual_seed(0))
    assert (p.pair_normal >= 0).sum() == 4 and (p.pair_normal < 0).sum() == 8
    seen, poisoned, hist = _train_and_count("fc", p, x, y)
    assert poisoned == p.n_backdoor == 16
    assert (hist["fc_pairs"], hist["fc_anchors"]) == (12, 8)
    assert sum(seen.values()) == 40 + 16 + 8


def _runs_cfg(**studies):
    return {"archs": ["resnet18"], "alpha": 0.1, "normal_fraction": 0.05, "compressed_fraction": 0.15,
            "train_codecs": {"jpeg": 50, "webp": 50}, "classifier": {"backdoor": {"epochs": 4, "lr": 0.02}},
            "studies": {"triggers": ["gauss", "logo"], "ir_sweep": [0.03, 0.15], "alpha_sweep": [0.1, 1.0],
                        "transfer": True, **studies}}


def test_plan_runs_reuses_the_main_run_in_sweeps():
    cfg = _runs_cfg(epochs_sweep=[2, 4], lr_sweep=[0.02, 0.2])
    runs = plan_runs(cfg)
    assert set(runs_of(cfg, "ir")) == {"fc-gauss-ir0.03", "fc-gauss"}
    assert set(runs_of(cfg, "alpha")) == {"fc-gauss", "fc-gauss-a1"}
    assert runs["fc-gauss-only-webp"]["train_codecs"] == {"webp": 50}
    assert runs["adversarial-gauss"]["method"] == "adversarial"
    assert "common-logo" in runs and "adversarial-logo" not in runs
    # Tables 9 and 10: the main run is the sweep's 4 epochs and lr 0.02; the others change only that
    assert set(runs_of(cfg, "epochs")) == {"fc-gauss-e2", "fc-gauss"}
    assert set(runs_of(cfg, "lr")) == {"fc-gauss", "fc-gauss-lr0.2"}
    main = {k: v for k, v in runs["fc-gauss"].items() if k != "study"}
    assert {k: v for k, v in runs["fc-gauss-e2"].items() if k != "study"} == {**main, "epochs": 2}
    assert {k: v for k, v in runs["fc-gauss-lr0.2"].items() if k != "study"} == {**main, "lr": 0.2}


def test_plan_runs_gives_table4_a_pair_per_arch_and_table7_every_trigger_on_trigger_archs():
    cfg = {**_runs_cfg(trigger_archs=["vgg16"]), "archs": ["resnet18", "alexnet", "vgg16"]}
    runs = plan_runs(cfg)
    assert runs_of(cfg, "archs") == ["common-gauss-alexnet", "fc-gauss-alexnet", "common-gauss-vgg16",
                                     "fc-gauss-vgg16"]
    assert runs_of(cfg, "arch_triggers") == ["common-gauss-vgg16", "fc-gauss-vgg16", "common-logo-vgg16",
                                             "fc-logo-vgg16"]
    assert runs_of(cfg, "arch_transfer") == ["fc-gauss-vgg16", "fc-gauss-only-jpeg-vgg16", "fc-gauss-only-webp-vgg16"]
    assert {runs[r]["arch"] for r in runs_of(cfg, "main") + runs_of(cfg, "transfer")} == {"resnet18"}
    assert runs["fc-logo-vgg16"] | {"study": None} == runs["fc-logo"] | {"arch": "vgg16", "study": None}
    assert not any(r.endswith("-alexnet") and runs[r]["trigger"] != "gauss" for r in runs)  # Table 4 only


def test_classifier_figures_draw_one_panel_per_architecture(tmp_path):
    """Figs. 6 and 7 (a) and (b): one panel per architecture in the rows (a figure twice as wide)."""
    import pandas as pd
    from PIL import Image

    from advcompress.backdoor import report

    def rows(run, arch, method):
        base = {"run": run, "arch": arch, "method": method, "trigger": "gauss", "alpha": 0.1, "ir": 0.2,
                "epochs": 4, "lr": 0.02, "n_backdoor": 10, "train_codecs": "jpeg", "note": ""}
        return [{**base, "metric": "ta", "codec": "none", "quality": "", "hits": 9, "n": 10, "rate": 0.9},
                *({**base, "metric": "asr", "codec": c, "quality": q, "hits": h, "n": 10, "rate": h / 10}
                  for c, q, h in [("none", "", 10), ("jpeg", 10, 3), ("jpeg", 50, 8)])]

    one = pd.DataFrame(rows("fc-gauss", "resnet18", "fc") + rows("common-gauss", "resnet18", "common"))
    two = pd.concat([one, pd.DataFrame(rows("fc-gauss-vgg16", "vgg16", "fc"))])
    for kind, s in [("fig6", {"seed": 0}), ("fig7", {"test_codecs": {"jpeg": 50}})]:
        widths = []
        for name, df in [("one", one), ("two", two)]:
            report.classifier_figure(df, kind, s, tmp_path / f"{kind}_{name}.png")
            widths.append(Image.open(tmp_path / f"{kind}_{name}.png").width)
        assert widths[1] > 1.8 * widths[0], (kind, widths)


def test_lr_schedule_drops_tenfold_at_milestones():
    got = [lr_at(e, 0.1, [40, 70]) for e in (0, 39, 40, 69, 70, 99)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_cifar_batches_load_and_foreign_pickles_are_refused(tmp_path):
    import os
    import pickle

    import numpy as np

    from advcompress.backdoor.datasets import load_split
    from advcompress.data import DataError

    root = tmp_path / "cifar10" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
        (root / name).write_bytes(pickle.dumps(batch))
    x, y = load_split(tmp_path / "cifar10", "train")
    assert x.shape == (20, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1 and y.tolist()[:4] == [1, 2, 3, 4]

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    (root / "test_batch").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match="refusing"):
        load_split(tmp_path / "cifar10", "test")
