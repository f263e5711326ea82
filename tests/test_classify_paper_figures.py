"""The classifier study's paper figures beyond the main grid (issue 16): Fig. 1's compression cycles,
micro-batched attacks through sequential codecs (issue 15), the adaptive JPEG paper's Fig. 2a
quality sweep and Fig. 6 per-attack rows, and how the plan reaches each."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from advcompress import plan
from advcompress.classify.adaptive_jpeg import decode_jpeg, jpeg_bytes, jpeg_quality_sweep
from advcompress.classify.defenses import Defense, compression_cycles
from advcompress.classify.evaluate import attack_rows
from advcompress.classify.training import train_small_cnn
from advcompress.codecs import make_codec
from advcompress.codecs.classic import to_pil
from advcompress.config import load_tier
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from advcompress.data import load_digits_split, prepare_digits

    folder = tmp_path_factory.mktemp("digits") / "digits"
    prepare_digits(folder, 32, 0.25, 0)
    return folder, load_digits_split(folder, "train"), load_digits_split(folder, "test")


@pytest.fixture(scope="module")
def cnn(digits):
    _, (x, y), _ = digits
    torch.manual_seed(0)
    model, _ = train_small_cnn(x, y, {"width": 8, "epochs": 2, "lr": 1e-2, "batch_size": 32},
                               torch.Generator().manual_seed(0))
    return model.eval()


def test_cycles_recompress_each_image_n_times_by_real_bytes(digits):
    """Fig. 1: N cycles are N compress -> bytes -> decompress round trips, each fed the last decode."""
    _, _, (xt, _) = digits
    x = xt[:3]
    codec = make_codec("jpeg", 25)
    calls = []
    compress = codec.compress
    codec.compress = lambda xi: calls.append(xi.clone()) or compress(xi)
    out = compression_cycles(["jpeg@25"], lambda name, q: codec, x, 3)["jpeg@25"]
    assert len(calls) == 3 * len(x)
    manual = x[:1]
    for _ in range(3):
        manual = decode_jpeg(jpeg_bytes(to_pil(manual), 25))
    assert torch.equal(out[:1], manual)
    once = decode_jpeg(jpeg_bytes(to_pil(x[:1]), 25))
    assert torch.equal(calls[len(x)], once)  # round 2 codes round 1's decode, not the original


def test_cycles_reject_a_chain():
    with pytest.raises(ValueError):
        compression_cycles(["jpeg@25+jpeg@50"], lambda name, q: make_codec(name, int(q)), torch.rand(1, 3, 8, 8), 2)


def test_micro_batched_sequential_attack_sees_small_batches_and_gives_the_same_rows(cnn, digits):
    """issue 15: the attack through N codec rounds runs `attack_batch_size` images at a time (its GPU
    memory), and the images and rows equal the full batch's (iFGSM treats images independently)."""
    _, _, (xt, yt) = digits
    x, y = xt[:4], yt[:4]
    torch.manual_seed(0)
    codec = make_codec("bmshj2018-factorized", 1, weights="untrained", widths={"N": 8, "M": 12}).eval()
    seen = []

    def make(name, q):
        return codec

    hook = cnn.register_forward_pre_hook(lambda m, inp: seen.append(len(inp[0])) if torch.is_grad_enabled() else None)
    try:
        rows = {}
        for micro in (None, 1):
            seen.clear()
            d = Defense("bmshj2018-factorized@1x2", make)
            rows[micro] = pd.DataFrame(attack_rows(cnn, d, "ifgsm", x, y, [8], [True], {"steps": 3}, batch_size=4,
                                                   attack_batch_size=micro))
            assert max(seen) == (4 if micro is None else 1)
    finally:
        hook.remove()
    cols = ["pred", "correct", "linf_255", "bpp_actual"]
    pd.testing.assert_frame_equal(rows[None][cols], rows[1][cols])
    assert rows[1]["l2_pixel"].to_numpy() == pytest.approx(rows[None]["l2_pixel"].to_numpy(), abs=1e-6)


def test_jpeg_quality_sweep_codes_each_input_at_each_quality(cnn, digits):
    """Fig. 2a: rows per image x input x quality; the adversarial rows classify the JPEG of the
    adversarial image (not of the clean one), and a lower quality gives fewer bytes."""
    _, _, (xt, yt) = digits
    x, y = xt[:6], yt[:6]
    adv = (x + 0.3 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    rows = pd.DataFrame(jpeg_quality_sweep(cnn, x, adv, y, [10, 90]))
    assert len(rows) == 2 * 2 * len(x)
    b = rows.groupby(["input", "quality"])["bytes"].mean()
    assert b[("clean", 10)] < b[("clean", 90)] and b[("adversarial", 10)] < b[("adversarial", 90)]
    from advcompress.classifiers import predict

    expected = predict(cnn, torch.cat([decode_jpeg(jpeg_bytes(to_pil(adv[i : i + 1]), 90)) for i in range(len(x))]))
    got = rows[(rows.input == "adversarial") & (rows.quality == 90)].sort_values("image")["pred"].tolist()
    assert got == expected.tolist()


def test_each_adaptive_attack_job_runs_the_named_attack(cnn, digits, tmp_path, monkeypatch):
    """Fig. 6: the plan gives each per-attack job its attack and that attack's settings; the command
    attacks with it (classify-adv's images only when they are that attack's) and labels the rows."""
    import advcompress.classify.attacks as attacks
    from advcompress.classifiers import save_classifier
    from advcompress.cli import main

    cfg = load_tier(ROOT / "config" / "smoke.yaml", root=ROOT)
    s = plan.classify.adaptive_settings(cfg, "digits-cnn", "deepfool")
    assert s["adaptive"]["attack"] == "deepfool" and s["attack"] == {
        k: v for k, v in cfg["classify"]["attacks"]["deepfool"].items() if k != "through"}
    assert plan.classify.adaptive_settings(cfg, "digits-cnn")["adaptive"]["attack"] == cfg["classify"]["adaptive"]["attack"]
    folder = digits[0]
    ckpt = tmp_path / "cnn.pt"
    save_classifier(cnn, ckpt, {})
    used = []
    real = attacks.run_attack
    monkeypatch.setattr(attacks, "run_attack", lambda name, *a, **k: used.append(name) or real(name, *a, **k))
    s["data"]["images"] = 4
    s["adaptive"] |= {"k": 1}
    out = tmp_path / "rows.csv"
    main(["classify-adaptive", "--net", "digits-cnn", "--net-ckpt", str(ckpt), "--data-dir", str(folder),
          "--out", str(out), "--settings", json.dumps(s), "--threads", "1"])
    assert used == ["deepfool"]
    rows = pd.read_csv(out)
    assert set(rows["attack"]) == {"deepfool"} and len(rows) == 4 * 3


def test_the_plan_runs_the_new_entries_with_the_keys_each_reads():
    """Default: the learned ablation over the hyperprior, Fig. 1, Fig. 2a, Fig. 6 per attack; the paper
    tier: ELIC and HiFiC as the main defenses, their ablations (Tables 7-8) and their sequential runs
    (Tables 9-10) at N = 1-7 on the ResNet-50 alone, micro-batched."""
    default = load_tier(ROOT / "config" / "config.yaml", root=ROOT)
    paper = load_tier(ROOT / "config" / "paper.yaml", root=ROOT)
    tables = plan.classify.table_plan(default)
    assert {"ablation_bmshj2018-hyperprior", "adaptive_quality", "adaptive_attacks"} <= set(tables)
    assert "cycles" in plan.classify.figure_plan(default)
    assert paper["classify"]["defenses"] == ["none", "jpeg@25", "elic@3", "hific@1"]
    ptables = plan.classify.table_plan(paper)
    assert {"ablation_elic", "ablation_hific", "sequential_elic", "sequential_hific", "sequential_jpeg"} <= set(ptables)
    jobs = plan.jobs(paper)
    seq = {w for r, w in jobs if r == "classify_sequential" and "elic" in w}
    assert seq == {f"net=resnet50, defense=elic@3x{n}" for n in range(1, 8)}
    assert jobs[("classify_sequential", "net=resnet50, defense=elic@3x7")]["attack_batch_size"] == 4
    abl = {w for r, w in jobs if r == "classify_ablation" and "hific" in w and "net=resnet50," in w}
    assert abl == {f"net=resnet50, defense=hific@{q}" for q in (1, 2, 3)}
    assert plan.classify.cycles_settings(paper)["defenses"] == ["elic@1", "elic@3", "hific@1", "hific@2", "jpeg@25"]


@pytest.mark.parametrize("path, value, reruns", [
    ("classify.adaptive.qualities", [10, 50], {"classify_adaptive_quality": {"net=digits-cnn"}}),
    ("classify.cycles.rounds", 2, {"classify_cycles": {""}}),
    ("classify.sequential.micro_batch", 8, {"classify_sequential": {f"net=digits-cnn, defense=jpeg@25x{n}"
                                                                    for n in (1, 2, 4)}}),
])
def test_each_new_key_reruns_only_the_jobs_that_read_it(path, value, reruns):
    """Every rule gets exactly the settings it reads: a new key changes its own jobs' settings and
    nothing else (not the main adaptive comparison for Fig. 2a's qualities); Snakemake then redraws
    their tables and figures from the newer rows."""
    from tests.test_plan import changed, rerun

    default = load_tier(ROOT / "config" / "config.yaml", root=ROOT)
    assert rerun(default, changed(default, path, value)) == reruns


def test_a_new_adaptive_attack_adds_its_job_and_leaves_the_others():
    from tests.test_plan import changed, rerun

    default = load_tier(ROOT / "config" / "config.yaml", root=ROOT)
    jobs = rerun(default, changed(default, "classify.adaptive.attacks", ["fgsm", "pgd", "deepfool", "cw"]))
    assert jobs == {"classify_adaptive_attack": {"net=digits-cnn, cls_attack=cw"}}


def test_the_per_codec_sequential_table_has_a_row_per_n_and_a_column_per_eps():
    """Tables 9-11's layout: N down, eps across (0 = baseline), each cell the mean over images."""
    from advcompress.classify.report import build_table

    rows = [{"net": "n", "attack": "ifgsm", "defense": f"elic@3x{n}", "through": True, "eps_255": e, "image": i,
             "correct": float(i < n + e // 4), "error": ""}
            for n in (1, 2, 3) for e in (0, 4, 8) for i in range(4)]
    t, md = build_table("sequential-codec", pd.DataFrame(rows), {"seed": 0})
    acc = t.set_index(["rounds", "eps_255"])["accuracy"]
    assert acc[(1, 0)] == 0.25 and acc[(3, 4)] == 1.0 and acc[(2, 8)] == 1.0 and acc[(1, 4)] == 0.5
    header = md.splitlines()[0]
    assert "rounds" in header and all(f"eps_255={e}" in header for e in (0, 4, 8))
    assert len(md.splitlines()) == 2 + 3  # header, rule, one row per N
