"""The backdoor stage of the smoke workflow, end to end (reuses the session's smoke run)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from advcompress.backdoor.lic_trigger import load_triggers
from advcompress.config import load_tier
from advcompress.data import load_image_folder

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def bd(smoke_run):
    cfg = load_tier(smoke_run / "config" / "smoke.yaml", root=smoke_run)
    return smoke_run, cfg


def _asr(root, run, codec="none", quality=""):
    t = pd.read_csv(root / "results/smoke/checkpoints/backdoor/runs" / f"{run}.csv", keep_default_na=False)
    row = t[(t.metric == "asr") & (t.codec == codec) & (t.quality.astype(str).str.removesuffix(".0") == str(quality))]
    assert len(row) == 1, (run, codec, quality)
    return float(row.rate.iloc[0])


def test_every_backdoor_target_exists(bd):
    root, _ = bd
    out = root / "results/smoke"
    for name in ["tables/backdoor_table4.csv", "tables/backdoor_table5.md", "tables/backdoor_table6.csv",
                 "figures/backdoor_fig6_asr_vs_jpeg.pdf", "figures/backdoor_fig7_codec_transfer.pdf",
                 "tables/backdoor_lic_table3.csv", "tables/backdoor_lic_table5.csv",
                 "figures/backdoor_lic_fig4_bpp_attack.pdf", "figures/backdoor_lic_fig5_psnr_attack.pdf",
                 "figures/backdoor_lic_fig6_example.png", "tables/backdoor_table7.csv", "tables/backdoor_table9.md",
                 "tables/backdoor_table10.md", "figures/backdoor_fig6b_asr_vs_jpeg.pdf",
                 "figures/backdoor_fig7b_codec_transfer.pdf", "tables/backdoor_lic_table1.csv",
                 "tables/backdoor_lic_table2.md", "tables/backdoor_lic_table6.csv", "tables/backdoor_lic_lira.md",
                 "figures/backdoor_lic_fig10_for_good.pdf"]:
        assert (out / name).stat().st_size > 0, name


def test_table4_rows_and_their_claims_are_reported(bd):
    """Whether the common backdoor drops after JPEG 50 is a claim with a verdict, not a test: on
    digits it flips with the machine's float rounding (100 -> 56 % on one CI machine, 100 -> 99 % on
    another with identical code and inputs). The test holds the machinery: rates, table, claims."""
    root, cfg = bd
    t = cfg["backdoor"]["studies"]["triggers"][0]
    for run in (f"common-{t}", f"fc-{t}"):
        assert 0 <= _asr(root, run, "jpeg", 50) <= 1 and _asr(root, run) > 0.5  # the backdoor is learned
    claims = pd.read_csv(root / "results/smoke/tables/claims.csv")
    drop = claims[claims.claim_id == "bd-common-asr-drops-after-jpeg"]
    assert len(drop) and drop.verdict.isin(["holds", "fails", "inconclusive"]).all() and drop.value.notna().all()
    table = pd.read_csv(root / "results/smoke/tables/backdoor_table4.csv")
    # twice chance (10 classes) or more: the smoke VGG-16 (width scale 0.125) reached TA 0.83 on one
    # machine and 0.46 on another (AVX2 only) with identical code and inputs
    assert set(table.method) == {"common", "fc"} and table.ta.between(0.2, 1).all()
    assert {"asr_avif_q50", "asr_heif_q50", "asr_jpeg2000_q30"} <= set(table.columns)  # unseen codecs are columns
    # one common/fc pair per architecture of backdoor.archs (the smoke tier has two)
    assert table.groupby("arch", sort=False).method.apply(sorted).to_dict() == {
        a: ["common", "fc"] for a in cfg["backdoor"]["archs"]}


def test_clean_classifier_ta_is_a_run_row_the_ta_claim_reads(bd):
    """Table 4's clean TA reaches the claims as a long-table row, so `bd-fc-ta-close-to-clean` has a
    reference instead of saying it has none."""
    from advcompress.codecs.base import load_blob

    root, _ = bd
    row = pd.read_csv(root / "results/smoke/checkpoints/backdoor/classifier/clean_ta.csv", keep_default_na=False)
    assert list(row.method) == ["clean"] and list(row.metric) == ["ta"] and list(row.codec) == ["none"]
    meta = load_blob(root / "results/smoke/checkpoints/backdoor/classifier/clean.pt")["meta"]
    assert row.hits.iloc[0] / row.n.iloc[0] == pytest.approx(meta["test_accuracy"])
    claims = pd.read_csv(root / "results/smoke/tables/claims.csv", keep_default_na=False)
    ta = claims[claims.claim_id == "bd-fc-ta-close-to-clean"]
    assert len(ta) and not ta.note.str.contains("no row of the clean").any(), ta.to_dict("records")


def test_backdoored_encoder_leaves_decoder_and_entropy_models_identical(bd):
    root, cfg = bd
    model = cfg["backdoor"]["lic"]["models"][0]
    for q in cfg["codecs"]["learned"][model]["qualities"]:
        orig = torch.load(root / f"results/smoke/checkpoints/codecs/{model}/q{q}.pt", weights_only=True)["state_dict"]
        back = torch.load(root / f"results/smoke/checkpoints/backdoor/lic/{model}/q{q}.pt", weights_only=True)["state_dict"]
        assert set(orig) == set(back)
        frozen = [k for k in orig if not k.startswith("g_a.")]
        assert frozen and all(
            orig[k].dtype == back[k].dtype and orig[k].shape == back[k].shape and torch.equal(orig[k], back[k])
            for k in frozen
        )
        assert any(not torch.equal(orig[k], back[k]) for k in orig if k.startswith("g_a."))
    rd = pd.read_csv(root / f"results/smoke/backdoor/lic/{model}/q{q}_rd.csv")
    assert rd.frozen_identical.all()


def test_triggered_images_satisfy_the_mse_bound(bd):
    root, cfg = bd
    lic = cfg["backdoor"]["lic"]
    model = lic["models"][0]
    q = cfg["codecs"]["learned"][model]["qualities"][0]
    eps = lic["trigger"]["eps"]
    triggers = load_triggers(root / f"results/smoke/checkpoints/backdoor/lic/{model}/q{q}.pt")
    _, images = load_image_folder(root / "data/smoke/eval")
    for o, t in triggers.items():
        with torch.no_grad():
            for x in images:
                assert float((t(x) - x).pow(2).mean()) <= eps**2 * (1 + 1e-4), o
    rd = pd.read_csv(root / f"results/smoke/backdoor/lic/{model}/q{q}_rd.csv")
    # The 8-bit file adds at most half a grey level of rounding on top of the float trigger.
    assert (rd.trigger_mse <= (eps + 0.5 / 255) ** 2).all()


def test_bit_rate_trigger_raises_actual_bpp(bd):
    root, cfg = bd
    model = cfg["backdoor"]["lic"]["models"][0]
    for q in cfg["codecs"]["learned"][model]["qualities"]:
        rd = pd.read_csv(root / f"results/smoke/backdoor/lic/{model}/q{q}_rd.csv")
        back = rd[rd.encoder == "backdoored"].set_index(["image", "trigger"]).bpp_actual.unstack()
        # every smoke image, really coded: the trigger at 46 dB at least doubles the rate
        assert (back["bpp"] > 2 * back["none"]).all(), (q, back.to_dict())
