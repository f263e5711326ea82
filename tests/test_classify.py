"""Classifier study: defenses, attacks, adaptive JPEG, and the smoke workflow's outputs."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import torch
from PIL import Image

from advcompress.classifiers import accuracy, predict
from advcompress.classify.adaptive_jpeg import (
    Matched,
    adaptive_jpeg,
    augmented_saliency,
    block_saliency,
    decode_jpeg,
    jpeg_bytes,
    match_size,
    saliency_map,
)
from advcompress.classify.attacks import ATTACKS, run_attack
from advcompress.classify.defenses import Defense, parse_defense, through_model
from advcompress.classify.training import train_small_cnn
from advcompress.codecs import make_codec
from advcompress.codecs.classic import to_pil


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from advcompress.data import load_digits_split, prepare_digits

    folder = tmp_path_factory.mktemp("digits") / "digits"
    prepare_digits(folder, 32, 0.25, 0)
    return load_digits_split(folder, "train"), load_digits_split(folder, "test")


@pytest.fixture(scope="module")
def cnn(digits):
    (x, y), _ = digits
    torch.manual_seed(0)
    model, _ = train_small_cnn(x, y, {"width": 8, "epochs": 4, "lr": 1e-2, "batch_size": 32},
                               torch.Generator().manual_seed(0))
    return model


def classic(name, q):
    return make_codec(name, int(q))


def test_digits_classifier_clears_90_percent(cnn, digits):
    _, (xt, yt) = digits
    hits, n = accuracy(cnn, xt, yt)
    assert hits / n > 0.90


def test_ifgsm_8_halves_undefended_accuracy(cnn, digits):
    _, (xt, yt) = digits
    x, y = xt[:64], yt[:64]
    clean = float((predict(cnn, x) == y).float().mean())
    adv = run_attack("ifgsm", cnn, x, y, 8 / 255)
    attacked = float((predict(cnn, adv) == y).float().mean())
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert attacked <= clean / 2


def test_through_true_beats_defense_more_than_through_false(cnn, digits):
    _, (xt, yt) = digits
    x, y = xt[:48], yt[:48]
    d = Defense("jpeg@50", classic)
    accs = {}
    for through in (False, True):
        model = through_model(d, cnn) if through else cnn
        adv = run_attack("ifgsm", model, x, y, 8 / 255)
        xd, _ = d.apply(adv)
        accs[through] = float((predict(cnn, xd) == y).float().mean())
    assert accs[True] < accs[False]


def test_sequential_one_round_equals_one_compression(digits):
    _, (xt, _) = digits
    x = xt[:4]
    one, _ = Defense("jpeg@25x1", classic).apply(x)
    single, _ = Defense("jpeg@25", classic).apply(x)
    twice, _ = Defense("jpeg@25x2", classic).apply(x)
    again, _ = Defense("jpeg@25", classic).apply(single)
    assert torch.equal(one, single)
    assert torch.equal(twice, again)
    assert not torch.equal(twice, x)


def test_defense_specs_parse_and_reject_typos():
    steps = parse_defense("bmshj2018-hyperprior@4+jpeg@25x3")
    assert [(s.codec, s.quality, s.rounds) for s in steps] == [("bmshj2018-hyperprior", "4", 1), ("jpeg", "25", 3)]
    assert parse_defense("none") == []
    with pytest.raises(ValueError):
        parse_defense("jpeg25")


def test_real_defense_output_is_the_decoded_jpeg(digits):
    _, (xt, _) = digits
    x = xt[:1]
    xd, infos = Defense("jpeg@25", classic).apply(x)
    data = jpeg_bytes(to_pil(x), 25)
    with Image.open(io.BytesIO(data)) as img:
        ref = torch.from_numpy(__import__("numpy").asarray(img.convert("RGB"), dtype="float32") / 255).permute(2, 0, 1)
    assert torch.equal(xd[0], ref)
    assert infos[0]["bpp_actual"] == pytest.approx(8 * len(data) / (32 * 32))


def test_attack_registry_has_the_papers_settings():
    assert ATTACKS["ifgsm"].defaults == {"alpha_over_eps": 0.25, "steps": 10}
    assert ATTACKS["pgd"].defaults["random_start"] is True
    assert ATTACKS["cw"].defaults == {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01}
    assert ATTACKS["deepfool"].defaults == {"steps": 50, "overshoot": 0.02}
    assert {a.norm for a in ATTACKS.values()} == {"linf", "l2"}


def test_saliency_maps_are_normalised_and_augmentation_changes_them(cnn, digits):
    _, (xt, _) = digits
    x = xt[:3]
    s = saliency_map(cnn, x)
    a = augmented_saliency(cnn, x, k=3, seed=1)
    assert s.shape == (3, 32, 32) and float(s.min()) >= 0 and float(s.max()) <= 1 + 1e-6
    assert not torch.allclose(s, a)
    assert torch.equal(a, augmented_saliency(cnn, x, k=3, seed=1))  # seeded


def _block_mse255(decoded: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """MSE (0-255 scale) of every 8x8 block, channels pooled: an (H/8) x (W/8) grid."""
    return torch.nn.functional.avg_pool2d((255 * (decoded - x)).pow(2).mean(1, keepdim=True), 8)[0, 0]


def test_adaptive_jpeg_is_a_valid_jpeg_within_5_percent_of_target(photos):
    from advcompress.classifiers import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN(10, 8).eval()  # saliency of any CAM network; a 64x64 photo has 64 blocks
    x = photos[0]
    sal = saliency_map(net, x)[0]
    plain = jpeg_bytes(to_pil(x), 30)
    target = len(plain)
    r = match_size(x, sal, target)
    with Image.open(io.BytesIO(r.data)) as img:
        assert img.format == "JPEG"
        img.load()
        assert img.size == (64, 64)
    assert abs(len(r.data) / target - 1) <= 0.05
    assert r.matched
    # Against plain JPEG of the same size, the salient half of the blocks lose less than the rest
    # (raw error alone would mostly measure texture: the CAM favours the textured blocks).
    rel = _block_mse255(decode_jpeg(r.data), x) / _block_mse255(decode_jpeg(plain), x)
    b = torch.from_numpy(block_saliency(sal))
    salient = b >= b.median()
    assert float(rel[salient].mean()) < float(rel[~salient].mean()) - 0.1


@pytest.mark.parametrize("photo", [0, 1])
def test_adaptive_jpeg_keeps_salient_blocks_closer_to_the_original(photos, photo):
    """A half-image saliency map and its mirror: every block is coded better when it is salient,
    and within each file the salient half is closer to the original than the other half."""
    x = photos[photo]
    left = torch.zeros(64, 64)
    left[:, :32] = 1
    err = {side: _block_mse255(decode_jpeg(adaptive_jpeg(x, m, 50, 0.3)), x) for side, m in
           [("left", left), ("right", 1 - left)]}
    for side, (salient, other) in {"left": (slice(0, 4), slice(4, 8)), "right": (slice(4, 8), slice(0, 4))}.items():
        e = err[side]
        assert float(e[:, salient].mean()) < 0.75 * float(e[:, other].mean())
    paired_left = err["left"][:, :4] < err["right"][:, :4]  # the same blocks, salient vs not
    paired_right = err["right"][:, 4:] < err["left"][:, 4:]
    assert float(torch.cat([paired_left, paired_right]).float().mean()) >= 0.9


def test_match_size_honours_the_configured_tolerance(photos):
    """A target below the smallest file the encoder can make: matched only under a loose band."""
    from advcompress.classifiers import SmallCNN

    torch.manual_seed(0)
    x = photos[0]
    sal = saliency_map(SmallCNN(10, 8).eval(), x)[0]
    smallest = len(adaptive_jpeg(x, sal, 1, 0.0))
    target = int(smallest / 1.3)  # every file is >= 30 % too large
    tight, loose = match_size(x, sal, target, tolerance=0.05), match_size(x, sal, target, tolerance=0.5)
    assert tight.size_ratio >= 1.29 and not tight.matched
    assert loose.matched and abs(loose.size_ratio - 1) <= 0.5
    assert Matched(b"", 50, 0.3, 1.1, tolerance=0.2).matched
    assert not Matched(b"", 50, 0.3, 1.1, tolerance=0.05).matched


# -- the smoke workflow's outputs ---------------------------------------------------------------


def test_smoke_outputs(smoke_run):
    out = smoke_run / "results" / "smoke"
    meta = json.loads((out / "checkpoints" / "classify" / "digits-cnn" / "classifier.json").read_text())
    assert meta["test_accuracy"] > 0.90
    linf = pd.read_csv(out / "tables" / "classify_linf.csv")
    assert set(linf["through"]) == {True, False}
    assert (linf["n_invalid"] == 0).all()
    bpp = pd.read_csv(out / "tables" / "classify_bpp.csv")
    assert (bpp["bpp_actual"] > 0).all()
    ada = pd.read_csv(out / "tables" / "classify_adaptive.csv")
    assert set(ada["method"]) == {"jpeg", "saliency", "aug_saliency"}
    for name in ["linf", "l2", "ablation", "sequential", "adaptive_digits-cnn"]:
        assert (out / "figures" / f"classify_{name}.pdf").stat().st_size > 0


# -- the 300-digit default tier: batched attacks and coding, work done once ------------------------


def test_batched_deepfool_matches_torchattacks_per_image(cnn, digits):
    """Same algorithm as torchattacks' one-image-at-a-time DeepFool, for fooled and unfooled images."""
    import torchattacks

    from advcompress.classify.attacks import BatchedDeepFool

    _, (xt, yt) = digits
    x, y = xt[:12], yt[:12]
    cnn.eval()
    ref = torchattacks.DeepFool(cnn, steps=3, overshoot=0.02)(x, y)
    ours = BatchedDeepFool(cnn, steps=3, overshoot=0.02)(x, y)
    assert not torch.equal(ours, x)
    assert torch.allclose(ours, ref, atol=2e-3)
    assert (ours - x).flatten(1).norm(dim=1).allclose((ref - x).flatten(1).norm(dim=1), atol=1e-3)
    assert run_attack("deepfool", cnn, x, y, settings={"steps": 3}, batch_size=5).allclose(ours, atol=2e-3)


def test_batched_learned_coding_equals_one_image_at_a_time(digits):
    """Defense.apply codes a learned codec's batch in one call: same decodes and rates as apply_one."""
    _, (xt, _) = digits
    x = xt[:5]
    codec = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 16, "M": 24}).eval()
    d = Defense("bmshj2018-hyperprior@1x2", lambda name, q: codec)
    batches = []
    compress = codec.net.compress
    codec.net.compress = lambda xp, **kw: batches.append(len(xp)) or compress(xp, **kw)
    out, infos = d.apply(x, batch_size=3)
    assert batches == [3, 2, 3, 2]  # two rounds, each in batches of at most 3
    codec.net.compress = compress
    for i in range(len(x)):
        one, info = d.apply_one(x[i : i + 1])
        assert torch.allclose(out[i], one[0], atol=1e-6)
        assert infos[i]["bpp_actual"] == info["bpp_actual"] and infos[i]["bpp_total"] == info["bpp_total"]


def test_clean_rows_are_coded_once_and_equal_the_eps_0_rows(cnn, digits):
    """eps = 0 is the clean image: its rows reuse the clean decode instead of coding it again."""
    from advcompress.classify.evaluate import attack_rows

    _, (xt, yt) = digits
    d = Defense("jpeg@25", classic)
    calls = []
    apply = d.apply
    d.apply = lambda x, batch_size=64: calls.append(len(x)) or apply(x, batch_size)
    rows = pd.DataFrame(attack_rows(cnn, d, "fgsm", xt[:6], yt[:6], [0, 8], [False, True]))
    assert len(calls) == 1 + 2  # clean once, then eps 8 through false and true
    zero = rows[rows.eps_255 == 0]
    assert len(zero) == 12 and (zero.pred == zero.pred_clean).all() and (zero.l2_pixel == 0).all()
    assert (rows[rows.eps_255 == 8].linf_255.round() == 8).all()


def test_workflow_reuses_classify_adv_and_splits_bpp_per_codec(tmp_path):
    """Ablation and adaptive jobs read classify-adv's images (no second attack) and the bpp
    table comes from one job per codec; a dry run of the default config shows both."""
    import re

    from tests.conftest import copy_workflow, snakemake

    work = copy_workflow(tmp_path)
    log = snakemake(work, "-n", "-p", "classify").stdout  # the Snakefile's default config
    adv = "results/classify/digits-cnn/adv/ifgsm.pt"
    shells = re.findall(r"advcompress (classify-\w+) .*", log)
    ablation = [s for s in re.findall(r"advcompress classify-attack .*", log) if "/ablation/" in s]
    adaptive = re.findall(r"advcompress classify-adaptive .*", log)
    assert ablation and all(f"--adv {adv}" in s for s in ablation)
    assert adaptive and all(f"--adv {adv}" in s for s in adaptive if "/adaptive.csv" in s)
    for s in adaptive:  # Fig. 6's other attacks read their own attack's classify-adv images
        if m := re.search(r"/adaptive/(\w+)\.csv", s):
            assert f"--adv results/classify/digits-cnn/adv/{m[1]}.pt" in s
    assert shells.count("classify-bpp") == len(set(re.findall(r"results/classify/digits-cnn/bpp/([\w.-]+)\.csv", log)))
    assert shells.count("classify-bpp") > 1


def test_imagenette_set_uses_the_weights_resize_before_the_centre_crop(tmp_path):
    """ResNet-50 IMAGENET1K_V2 is evaluated at short side 232 (not 256) before the 224 crop: the net's
    `resize` key. Here 20 px (the image's own short side: no resampling) against the default 9."""
    import numpy as np
    from PIL import Image

    from advcompress.classify.datasets import IMAGENETTE_WNIDS, load_eval_set

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    for wnid in IMAGENETTE_WNIDS:  # one image per class
        (tmp_path / "val" / wnid).mkdir(parents=True)
        Image.fromarray(arr).save(tmp_path / "val" / wnid / "a.png")
    x, y = load_eval_set("imagenette", tmp_path, None, 0, size=8, resize=20)
    assert x.shape == (10, 3, 8, 8) and y.tolist() == list(range(10))
    want = torch.from_numpy(arr[6:14, 16:24].astype(np.float32) / 255).permute(2, 0, 1)
    assert torch.equal(x[3], want)
    default, _ = load_eval_set("imagenette", tmp_path, None, 0, size=8)
    assert default.shape == x.shape and not torch.equal(default, x)
