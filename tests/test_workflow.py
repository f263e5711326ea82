"""The smoke config end to end: tables, trained-model properties, no-op reruns (DVC: test_dvc.py)."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from advcompress.codecs import make_codec_from_settings
from advcompress.config import load_tier
from advcompress.data import load_image_folder, prepare_skimage_photos
from advcompress.evaluate import code_image
from tests.conftest import ROOT, snakemake

SMOKE = load_tier(ROOT / "config" / "smoke.yaml", root=ROOT)
OUT = SMOKE["results"]


def smoke_checkpoint(run: Path, model: str, quality: int) -> Path:
    models = run / OUT / "checkpoints" / "codecs" / model
    return models / ("qvr.pt" if (models / "qvr.pt").exists() else f"q{quality}.pt")


def test_rd_table_covers_every_codec_and_quality(smoke_run):
    table = pd.read_csv(smoke_run / OUT / "tables" / "rd_clean.csv")
    expected = {(m, q) for m, spec in SMOKE["codecs"]["learned"].items() for q in spec["qualities"]}
    expected |= {(m, q) for m, qs in SMOKE["codecs"]["classic"].items() for q in qs}
    assert set(zip(table.codec, table.quality, strict=True)) == expected
    assert (table.n_invalid == 0).all() and (table.n_rows == len(SMOKE["data"]["eval"]["images"])).all()
    assert (smoke_run / OUT / "figures" / "rd_clean.pdf").stat().st_size > 1000
    md = (smoke_run / OUT / "tables" / "rd_clean.md").read_text()
    assert md.count("\n") == len(table) + 2


def test_rd_table_is_the_mean_of_the_per_image_rows(smoke_run):
    table = pd.read_csv(smoke_run / OUT / "tables" / "rd_clean.csv").set_index(["codec", "quality"])
    rows = pd.read_csv(smoke_run / OUT / "clean" / "jpeg" / "q50.csv")
    assert table.loc[("jpeg", 50), "psnr_db"] == pytest.approx(rows.psnr_db.mean())
    assert table.loc[("jpeg", 50), "bpp_actual"] == pytest.approx(rows.bpp_actual.mean())


def test_psnr_increases_with_quality_for_every_classic_codec(smoke_run):
    """The quality knob's direction, per codec, in the RD table.

    Classic codecs only: the smoke tier's learned ladders (200 + 100 steps, 12-14 dB) are too young
    to order. Its factorized q6 fine-tune from q2 first tripled the training MSE (928 -> 3,166 in
    10 steps), ended at a lower rate than q2, and whether its PSNR ended above q2's flipped with
    float rounding alone (CompressAI's GDN 13.57 -> 14.49 dB, MatmulGDN 13.89 -> 13.53 dB, the
    same seed, 2026-12-04). The default run's learned ladders are read in rd_bd.
    """
    table = pd.read_csv(smoke_run / OUT / "tables" / "rd_clean.csv")
    table = table[table.family == "classic"]
    assert set(table.codec) >= {"jpeg", "webp"}
    for codec, g in table.groupby("codec"):
        g = g.sort_values("quality", ascending=codec != "jpeg2000")  # jpeg2000: compression ratio
        assert (g.psnr_db.diff().dropna() > 0).all(), (codec, g[["quality", "psnr_db"]].to_dict("records"))  # strictly


def test_actual_rate_within_ten_percent_of_estimate(smoke_run, tmp_path):
    # 256x256 crops: at 64x64 the coder's fixed flush bytes alone are several percent of the rate.
    prepare_skimage_photos(tmp_path / "eval", ["astronaut", "chelsea"], 256, 256)
    _, images = load_image_folder(tmp_path / "eval")
    for model, spec in SMOKE["codecs"]["learned"].items():
        for q in spec["qualities"]:
            settings = {"weights": "trained", "widths": spec["widths"], "device": "cpu"}
            codec = make_codec_from_settings(model, q, settings, str(smoke_checkpoint(smoke_run, model, q)))
            for x in images:
                row, _ = code_image(codec, x)
                assert row["bpp_actual"] == pytest.approx(row["bpp_est"], rel=0.10), (model, q, row)


def test_rerun_has_nothing_to_do(smoke_run):
    proc = snakemake(smoke_run, "--configfile", "config/smoke.yaml", "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_every_smoke_job_forked_from_the_runs_own_warm_server(smoke_run):
    """The Snakefile starts a job server for a local run (config `job_server`) and stops it at the
    end: one finished-job line per job, every job served, none fell back to its own process."""
    log = (smoke_run / "logs/smoke/job_server.log").read_text()
    jobs = list((smoke_run / "benchmarks/smoke").glob("*/*.tsv"))  # one per job: every job is an advcompress command
    assert log.count(" done: exit 0,") == len(jobs) > 50, log[-2000:]
    assert not any("not reachable" in p.read_text() for p in (smoke_run / "logs/smoke").glob("*/*.log"))


def test_checkpoint_reload_codes_bit_identically(smoke_run, photos):
    model, spec = next(iter(SMOKE["codecs"]["learned"].items()))
    q = spec["qualities"][0]
    settings = {"weights": "trained", "widths": spec["widths"], "device": "cpu"}
    a = make_codec_from_settings(model, q, settings, str(smoke_checkpoint(smoke_run, model, q)))
    b = make_codec_from_settings(model, q, settings, str(smoke_checkpoint(smoke_run, model, q)))
    assert a.compress(photos[1]).strings == b.compress(photos[1]).strings
    blob = torch.load(smoke_checkpoint(smoke_run, model, q), weights_only=True)
    assert set(blob) == {"state_dict", "meta"}
