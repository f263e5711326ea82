"""Datasets: bundled tiers, manifests, bad images, and checked downloads that fail cleanly."""

import json

import pytest
import torch

from advcompress import data
from advcompress.config import load_tier
from tests.conftest import ROOT, failing_job


def test_skimage_photos_written_with_manifest(tmp_path):
    m = data.prepare_skimage_photos(tmp_path / "eval", ["astronaut", "coffee"], 64, 64)
    names, images = data.load_image_folder(tmp_path / "eval")
    assert names == ["astronaut", "coffee"]
    assert all(x.shape == (1, 3, 64, 64) and 0 <= x.min() and x.max() <= 1 for x in images)
    assert [f["file"] for f in m["files"]] == ["astronaut.png", "coffee.png"]
    assert not (tmp_path / ".eval.part").exists()


def test_tiles_are_disjoint_crops_of_one_photograph(tmp_path):
    data.prepare_skimage_photos(tmp_path / "eval", ["chelsea"], 128, 64, tiles=2)
    names, (a, b) = data.load_image_folder(tmp_path / "eval")
    assert names == ["chelsea_0", "chelsea_1"]
    assert a.shape == b.shape == (1, 3, 64, 64) and not torch.equal(a, b)
    # chelsea is landscape (192x128 here): the tiles sit side by side at the vertical centre and,
    # together, are the centre 128x64 strip of the downscaled photograph.
    data.prepare_skimage_photos(tmp_path / "whole", ["chelsea"], 128, None)
    whole = data.load_image_folder(tmp_path / "whole")[1][0]
    strip = whole[..., 32:96, 32:160]
    assert torch.equal(torch.cat([a, b], dim=-1), strip)


def test_scikit_learn_photographs_are_bundled_too(tmp_path):
    data.prepare_skimage_photos(tmp_path / "train", ["china", "flower"], 64, None)
    names, images = data.load_image_folder(tmp_path / "train")
    assert names == ["china", "flower"] and min(images[0].shape[-2:]) == 64
    with pytest.raises(data.DataError, match="unknown bundled photograph"):
        data.prepare_skimage_photos(tmp_path / "x", ["lena"], 64, None)


@pytest.mark.parametrize("tier", ["config", "smoke"])
def test_evaluation_and_training_sets_are_disjoint(tier):
    cfg = load_tier(ROOT / "config" / f"{tier}.yaml", root=ROOT)
    assert not set(cfg["data"]["eval"]["images"]) & set(cfg["data"]["train"]["images"])


def test_digits_split_is_seeded_and_stratified(tmp_path):
    data.prepare_digits(tmp_path / "d", size=32, test_fraction=0.25, seed=0)
    x, y = data.load_digits_split(tmp_path / "d", "train")
    xt, yt = data.load_digits_split(tmp_path / "d", "test")
    assert x.shape[1:] == (3, 32, 32) and len(x) + len(xt) == 1797
    assert set(yt.tolist()) == set(range(10))
    data.prepare_digits(tmp_path / "e", size=32, test_fraction=0.25, seed=0)
    assert (data.load_digits_split(tmp_path / "e", "test")[1] == yt).all()


def test_archive_with_one_top_folder_loads_like_div2k(tmp_path):
    """DIV2K_train_HR.zip extracts to <train>/DIV2K_train_HR/0001.png ...: the paper tier's train
    set. Every job reading it (train_lic, defense_train_at, backdoor_lic_train) failed with
    'holds no images' (found by the CPU rehearsal of the paper DAG, benchmark/rehearse_paper.py)."""
    import zipfile

    data.prepare_skimage_photos(tmp_path / "src", ["china", "flower"], 64, None)
    archive = tmp_path / "cache" / "DIV2K_train_HR.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for i, name in enumerate(["china", "flower"], 1):
            z.write(tmp_path / "src" / f"{name}.png", f"DIV2K_train_HR/{i:04d}.png")
    spec = {"archive": {"url": "http://example.invalid/DIV2K_train_HR.zip", "checksum": None}}
    data.fetch_dataset(tmp_path / "train", spec, tmp_path / "cache")  # the placed archive counts as fetched
    names, images = data.load_image_folder(tmp_path / "train")
    assert names == ["0001", "0002"] and all(min(x.shape[-2:]) == 64 for x in images)
    (tmp_path / "train" / "other").mkdir()  # two folders: which one is the dataset is not guessed
    with pytest.raises(data.DataError, match="holds no images"):
        data.load_image_folder(tmp_path / "train")


def test_invalid_image_is_one_clear_error(tmp_path):
    data.prepare_skimage_photos(tmp_path / "eval", ["astronaut"], 64, 64)
    (tmp_path / "eval" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(data.DataError, match="broken.png: cannot be read as an image"):
        data.load_image_folder(tmp_path / "eval")


def test_invalid_image_through_cli_leaves_no_output(tmp_path, capsys, caplog):
    data.prepare_skimage_photos(tmp_path / "eval", ["astronaut"], 64, 64)
    (tmp_path / "eval" / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    out = tmp_path / "out" / "table.csv"
    status, stderr = failing_job(["compress", "--codec", "jpeg", "--quality", "50", "--eval-dir", str(tmp_path / "eval"),
                                  "--out", str(out)], capsys, caplog)
    assert status == 2
    errors = [line for line in stderr if "error" in line.lower()]
    assert len(errors) == 1 and "broken.jpg" in errors[0], stderr
    assert not out.exists()


def test_tampered_file_fails_manifest_check(tmp_path):
    data.prepare_skimage_photos(tmp_path / "eval", ["astronaut", "coffee"], 64, 64)
    src = (tmp_path / "eval" / "astronaut.png").read_bytes()
    (tmp_path / "eval" / "coffee.png").write_bytes(src)
    with pytest.raises(data.DataError, match="coffee.png: SHA-256 differs"):
        data.load_image_folder(tmp_path / "eval")


def test_offline_paper_fetch_is_one_clear_error_and_leaves_nothing(tmp_path, capsys, caplog):
    url = "http://127.0.0.1:9/kodim01.png"  # the discard port: refused at once, as offline
    spec = {"kind": "fetch", "retries": 1, "cache": str(tmp_path / "cache"),
            "files": {"kodim01.png": {"url": url, "checksum": None}}}
    out = tmp_path / "paper" / "eval"
    status, stderr = failing_job(["prepare-data", "--out", str(out), "--settings", json.dumps(spec)], capsys, caplog)
    assert status == 2
    lines = [line for line in stderr if line.strip()]
    assert len(lines) == 1, stderr
    assert url in lines[0] and "place the file by hand at" in lines[0]
    assert not out.exists() and not (tmp_path / "paper" / ".eval.part").exists()
    assert not any((tmp_path / "cache").iterdir())
