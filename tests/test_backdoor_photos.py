"""The backdoor study's photo-patch task (backdoor.dataset: photos): patches of the bundled
photographs labelled by source photo, train and test from disjoint tiles, seeded, checked config."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from advcompress.backdoor.datasets import load_split, photo_patches, prepare_photo_patches
from advcompress.data import DataError
from tests.conftest import ROOT, resolved

SCHEMA = str(ROOT / "workflow" / "schemas" / "backdoor.schema.yaml")
# Small and fast: three photographs (colour, grey, scikit-learn's), downscaled; 20-pixel tiles do
# not divide 96, so the grid is centred away from the corner.
SPEC = {"images": ["china", "brick", "ihc"], "patch": 20, "per_photo": 12, "test_fraction": 0.25,
        "min_std": 0.02, "short_side": 96}


def _patches(seed=0, **over):
    s = {**SPEC, **over}
    return photo_patches(s["images"], s["patch"], s["per_photo"], s["test_fraction"], s["min_std"], seed,
                         s["short_side"])


def _photo(name, short_side):
    from advcompress.backdoor.datasets import _photo

    return _photo(name, short_side)


def test_same_seed_same_patches_other_seed_other_split():
    a, b, c = _patches(0), _patches(0), _patches(1)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert not np.array_equal(a["box_test"], c["box_test"])
    assert a["x_train"].dtype == np.uint8 and a["x_train"].shape == (3 * 9, 3, 20, 20)
    assert a["x_test"].shape == (3 * 3, 3, 20, 20)


def test_train_and_test_patches_share_no_pixel():
    """Every pair of patches of one photograph, train against test, covers disjoint rectangles
    (and no two patches of either split coincide)."""
    d, p = _patches(), SPEC["patch"]
    for label in range(len(SPEC["images"])):
        tr = d["box_train"][d["box_train"][:, 0] == label, 1:]
        te = d["box_test"][d["box_test"][:, 0] == label, 1:]
        dy = np.abs(tr[:, None, 0] - te[None, :, 0])
        dx = np.abs(tr[:, None, 1] - te[None, :, 1])
        overlap = (dy < p) & (dx < p)
        assert not overlap.any(), f"{SPEC['images'][label]}: {int(overlap.sum())} train/test patches overlap"
        boxes = np.concatenate([tr, te])
        assert len(np.unique(boxes, axis=0)) == len(boxes)


def test_each_patch_is_the_region_of_its_labelled_photograph():
    d = _patches()
    photos = [_photo(n, SPEC["short_side"]) for n in SPEC["images"]]
    assert list(d["names"]) == SPEC["images"]
    p = SPEC["patch"]
    for split in ("train", "test"):
        x, y, box = d[f"x_{split}"], d[f"y_{split}"], d[f"box_{split}"]
        assert np.array_equal(y, box[:, 0])
        assert np.bincount(y).tolist() == [len(y) // 3] * 3
        for xi, yi, (_, top, left) in zip(x, y, box, strict=True):
            region = photos[yi][top : top + p, left : left + p].transpose(2, 0, 1)
            assert np.array_equal(xi, region), f"{split} patch labelled {SPEC['images'][yi]} at {(top, left)}"
            assert (xi.astype(np.float32) / 255).std() >= SPEC["min_std"]


def test_flat_tiles_are_dropped_and_too_few_tiles_is_an_error_naming_the_photo():
    # retina.jpg has a black border: at short side 128, 60 of its 64 tiles of 16x16 are textured,
    # so 60 patches are all of them and 61 are more than there are (with the filter, 64 would fit)
    d = _patches(images=["retina"], short_side=128, patch=16, per_photo=60)
    assert min(float((x.astype(np.float32) / 255).std()) for x in d["x_train"]) >= SPEC["min_std"]
    with pytest.raises(DataError, match="'retina'.* 60 tiles.*fewer than per_photo = 61"):
        _patches(images=["retina"], short_side=128, patch=16, per_photo=61)
    with pytest.raises(DataError, match="'brick'.*fewer than per_photo"):
        _patches(images=["china", "brick"], short_side=64, patch=16, per_photo=20)  # china 24 tiles, brick 16
    with pytest.raises(DataError, match="empty split"):
        _patches(test_fraction=0.01)


def test_prepared_folder_loads_as_a_split_with_its_manifest(tmp_path):
    import torch

    man = prepare_photo_patches(tmp_path / "photos", SPEC, seed=0)
    assert man["images"] == SPEC["images"] and [f["file"] for f in man["files"]] == ["photos.npz"]
    x, y = load_split(tmp_path / "photos", "test")
    ref = _patches()
    assert x.shape == (9, 3, 20, 20) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(ref["x_test"]).float() / 255) and y.tolist() == ref["y_test"].tolist()
    (tmp_path / "photos" / "photos.npz").write_bytes(b"not the file the manifest recorded")
    with pytest.raises(DataError, match="SHA-256"):
        load_split(tmp_path / "photos", "train")


def test_the_schemas_photographs_are_the_bundled_ones_and_are_local_files():
    from advcompress.data import SKIMAGE_GREY, SKIMAGE_PHOTOS, SKLEARN_PHOTOS, bundled_photo_path

    enum = yaml.safe_load(open(SCHEMA))["properties"]["photos"]["properties"]["images"]["items"]["enum"]
    assert set(enum) == {*SKIMAGE_PHOTOS, *SKIMAGE_GREY, *SKLEARN_PHOTOS}
    for name in enum:
        assert bundled_photo_path(name).is_file(), name  # package data, never a pooch download


def _section(**over):
    s = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["backdoor"]
    return {**s, "dataset": "photos", "photos": {**SPEC, "images": ["china", "brick"]}, **over}


@pytest.mark.parametrize("change, where", [
    ({"patch": 4}, r"\['photos'\]\['patch'\]"),
    ({"images": ["china", "flowr"]}, r"\['photos'\]\['images'\]\[1\]"),
    ({"images": ["china", "china"]}, r"\['photos'\]\['images'\]"),
    ({"test_fraction": 1.0}, r"\['photos'\]\['test_fraction'\]"),
    ({"per_photo": "many"}, r"\['photos'\]\['per_photo'\]"),
    ({"pach": 16}, "'pach' was unexpected"),
])
def test_bad_photo_settings_fail_schema_validation_naming_the_key(change, where):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    good = _section()
    validate(good, SCHEMA)
    bad = {**good, "photos": {**good["photos"], **change}}
    with pytest.raises(WorkflowError, match=where):
        validate(bad, SCHEMA)


def test_dataset_photos_without_its_settings_fails_naming_photos():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    s = _section()
    del s["photos"]
    with pytest.raises(WorkflowError, match="'photos' is a required property"):
        validate(s, SCHEMA)
    validate({**s, "dataset": "digits"}, SCHEMA)  # digits needs no photo settings


@pytest.mark.parametrize("change, message", [
    ({"dataset": "imagenet"}, "backdoor.dataset is 'imagenet': neither photos nor a key of data"),
    ({"dataset": "photos", "target_class": 3}, "backdoor.target_class is 3, but backdoor.photos.images has only 2"),
])
def test_workflow_refuses_a_dataset_it_cannot_build_naming_the_key(tmp_path, change, message):
    """What the schema cannot see (the data keys, the number of photographs) fails at parse time
    (advcompress.plan, as every planning refusal: tests/test_errors.py checks Snakemake prints it)."""
    from advcompress import plan

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["backdoor"] |= {"photos": {**SPEC, "images": ["china", "brick"]}, **change}
    cfg["backdoor"]["lic"]["ds_target"] = 1
    with pytest.raises(ValueError, match=re.escape(message)):
        plan.targets(resolved(cfg, tmp_path))
