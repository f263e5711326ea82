"""The segmentation stand-in of the LIC backdoor (Table 1 of Yu et al.): mosaics, their labels, the
split they come from, the block segmenter, and the per-pixel target reaching the downstream loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advcompress.backdoor.segmentation import (
    BlockSegmenter,
    mosaics,
    pixel_asr,
    retarget,
    split_mosaics,
)

SEG = {"grid": 2, "source": 1, "target": 7, "train_mosaics": 40, "test_mosaics": 30}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from advcompress.data import prepare_digits

    root = tmp_path_factory.mktemp("digits")
    prepare_digits(root / "digits", 32, 0.05, 0)
    return root / "digits"


def test_every_pixel_carries_its_tile_label_and_every_mosaic_holds_the_source():
    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 3, 4, 4).clone()
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    img, lab, idx = mosaics(x, y, 50, 3, 1, torch.Generator().manual_seed(0))
    assert img.shape == (50, 3, 12, 12) and lab.shape == (50, 12, 12) and idx.shape == (50, 9)
    assert torch.equal(img[:, 0].long(), lab)  # tile i is filled with the value i, which is its label
    assert ((lab == 1).flatten(1).any(1)).all()
    assert len(idx.unique()) == 6  # tiles come from the whole set, not only the source class


def test_test_mosaics_are_built_from_test_images_only(digits):
    """No tile of a test mosaic is a training image (pixel for pixel); the training mosaics likewise."""
    from advcompress.backdoor.datasets import load_split

    train = {bytes(t.numpy().tobytes()) for t in (load_split(digits, "train")[0] * 255).round().byte()}
    xt, _ = load_split(digits, "test")
    test = {bytes(t.numpy().tobytes()) for t in (xt * 255).round().byte()}
    for split, own, other in [("test", test, train), ("train", train, test)]:
        img, lab, _ = split_mosaics(digits, split, SEG, 0)
        tiles = img.view(len(img), 3, 2, 32, 2, 32).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3, 32, 32)
        keys = {bytes(t.numpy().tobytes()) for t in (tiles * 255).round().byte()}
        assert keys <= own and not keys & (other - own)
    assert len(split_mosaics(digits, "test", SEG, 0)[0]) == SEG["test_mosaics"]


def test_retarget_moves_only_source_pixels_and_pixel_asr_counts_them():
    lab = torch.tensor([[[1, 1], [2, 3]]])
    assert torch.equal(retarget(lab, 1, 7), torch.tensor([[[7, 7], [2, 3]]]))
    hits, n = pixel_asr(torch.tensor([[[7, 2], [7, 3]]]), lab, 1, 7)
    assert hits.tolist() == [1] and n.tolist() == [2]


def test_block_segmenter_gives_each_pixel_its_tiles_logits():
    torch.manual_seed(0)
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5))
    x = torch.rand(2, 3, 8, 12)
    out = BlockSegmenter(clf, 4)(x)
    assert out.shape == (2, 5, 8, 12)
    for i, j in [(0, 0), (1, 2), (0, 2)]:
        tile = x[:, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
        want = clf(tile)[:, :, None, None].expand(-1, -1, 4, 4)
        assert torch.allclose(out[:, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4], want, atol=1e-6)


def test_the_downstream_loss_takes_a_per_pixel_target_map():
    """With a label map as the target, the ds term is the segmenter's per-pixel cross-entropy
    against that map (not against one class for the whole image)."""
    from advcompress.backdoor.lic_trigger import objective_losses
    from advcompress.codecs import make_codec

    torch.manual_seed(0)
    codec = make_codec("bmshj2018-hyperprior", 1, weights="untrained", widths={"N": 16, "M": 24}).eval()
    seg = BlockSegmenter(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4)), 16)

    class Plus(torch.nn.Module):
        def forward(self, x):
            return (x + 0.05).clamp(0, 1)

        def penalty(self, x, xp):
            return x.new_zeros(())

    aux, x = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    wanted = torch.randint(4, (2, 32, 32))
    objectives = {"ds": {"alpha": 1.0, "beta": 1.0, "alpha_ds": 0.0}}
    torch.manual_seed(1)
    with torch.no_grad():
        got = objective_losses(codec, {"ds": Plus()}, objectives, x, 0.01, "ste", aux, seg, wanted)["ds"][2]["ds_ce"]
        out = codec.forward(Plus()(aux), proxy="ste")
        want = float(F.cross_entropy(seg(out["x_hat"].clamp(0, 1)), wanted))
    assert got == pytest.approx(want, rel=1e-5)
