"""A cheap sample of the paper tier's CPU rehearsal (benchmark/rehearse_paper.py, issue 15): its
config is the paper tier's but for the scale keys, its dry run plans every rule of the paper DAG,
and each stand-in for a download loads through the library's own loader. The whole rehearsal is
one documented command (README, "The paper-scale run"), not part of CI."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import yaml

from benchmark import rehearse_paper as rp
from benchmark import standins
from tests.conftest import copy_workflow

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("rehearse"))
    (work / rp.OVERLAY).write_text(yaml.safe_dump(rp.overlay(), sort_keys=False))
    return work


def test_config_is_the_paper_tier_but_for_scale_keys(work, tmp_path):
    paper, rehearsal = rp.check_config(work, work / rp.OVERLAY)  # validated against the schemas
    for section in ("codecs", "data"):
        assert rehearsal[section] == paper[section]
    assert rehearsal["attack"]["models"] == paper["attack"]["models"]
    assert rehearsal["attack"]["steps"] == 2 and paper["attack"]["steps"] == 64
    # a key outside SCALE (here: dropping a codec) is refused, naming it
    bad = rp.overlay()
    bad["attack"]["models"] = ["bmshj2018-hyperprior"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(rp.RehearsalError, match="attack.models"):
        rp.check_config(work, tmp_path / "bad.yaml")


def test_dry_run_plans_every_rule_of_the_paper_dag(work):
    """The rehearsal's dry run against the paper tier's plan (advcompress.plan, which
    tests/test_rules.py holds equal to the paper tier's DAG: one paper-size dry run fewer)."""
    from advcompress import plan
    from advcompress.config import load_tier

    paper = Counter(rule for rule, _ in plan.jobs(load_tier(work / rp.PAPER, root=work)))
    rehearsal, targets, outputs = rp.plan(work, rp.PAPER, rp.OVERLAY)
    assert set(rehearsal) - {"all"} == set(paper)
    assert rp.PLACED_RULES <= set(paper)  # the stand-ins' rules are in the plan, each with outputs
    assert all(outputs[r] for r in rp.PLACED_RULES)
    assert sum(rehearsal.values()) - 1 < sum(paper.values())
    assert any("/tables/" in t for t in targets) and any("/figures/" in t for t in targets)


def test_dataset_standins_load_through_the_loaders(tmp_path):
    from advcompress.backdoor.datasets import load_split
    from advcompress.classify.datasets import IMAGENETTE_WNIDS, load_eval_set
    from advcompress.data import load_image_folder

    x, y = load_split(standins.cifar10(tmp_path / "cifar10", per_batch=20), "train")
    assert x.shape == (100, 3, 32, 32) and sorted(set(y.tolist())) == list(range(10))
    assert load_split(tmp_path / "cifar10", "test")[0].shape == (20, 3, 32, 32)
    x, y = load_eval_set("imagenette", standins.imagenette(tmp_path / "imagenette", per_class=1), None, 0, 224, 232)
    assert x.shape == (len(IMAGENETTE_WNIDS), 3, 224, 224) and y.tolist() == list(range(10))
    names, images = load_image_folder(standins.kodak(tmp_path / "eval", (64, 96)))
    assert names == [n.removesuffix(".png") for n in standins.KODAK_NAMES] and images[0].shape == (1, 3, 64, 96)
    names, _ = load_image_folder(standins.div2k(tmp_path / "train", n=2))
    assert names == ["0001", "0002"]


# One official-format file per loader family: CompressAI's zoo (a bare state dict; the VBR model's
# variable-rate bottleneck), {"state_dict"} with DataParallel prefixes and CompressAI < 1.2 names
# (STF, TCM, ELIC), QmapCompression's {"model"} (Song2021), HiFi-VRIC's {"model"} (Cai2022), the
# HiFiC port's {"model_state_dict"} with discriminator and LPIPS keys. Their layouts at official
# width are checked against the official references by tests/test_arch_*.py.
@pytest.mark.parametrize("name,quality", [("mbt2018", 3), ("mbt2018-mean-vbr", 3), ("stf", 2), ("tcm", 2),
                                          ("elic", 1), ("hific", 2), ("song2021", 55), ("cai2022", 55)])
def test_official_format_checkpoint_loads_through_from_state_dict(name, quality, tmp_path):
    from advcompress.codecs import make_codec_from_settings
    from advcompress.codecs.learned import architecture

    q = "vr" if name in ("mbt2018-mean-vbr", "song2021", "cai2022") else quality
    path = standins.codec_checkpoint(tmp_path / f"q{q}.pth.tar", name, q, standins.REHEARSAL_WIDTHS.get(name))
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw, dict) and not any(k.startswith("net.") for k in raw)
    codec = make_codec_from_settings(name, quality, {"weights": "pretrained", "device": "cpu"}, str(path))
    arch = architecture(name)
    widths = standins.REHEARSAL_WIDTHS.get(name) or arch.official_widths(1)
    if name == "mbt2018-mean-vbr":  # the zoo file's variable-rate bottleneck, as CompressAI loads it
        assert "entropy_bottleneck._matrix0" in codec.net.state_dict()
    else:
        assert arch.make(**widths).state_dict().keys() == codec.net.state_dict().keys()
    x = torch.rand(1, 3, 64, 64)
    x_hat, bitstream = codec.roundtrip(x)
    assert x_hat.shape == x.shape and bitstream.nbytes > 0


def test_torchvision_standin_loads_strictly(tmp_path):
    from advcompress.classifiers import load_classifier

    path = standins.torchvision_weights(tmp_path / "resnet50.pth", "resnet50")
    clf = load_classifier(path, {"kind": "torchvision", "arch": "resnet50", "classes": [0, 217, 482]})
    assert clf(torch.rand(1, 3, 64, 64)).shape == (1, 3)
