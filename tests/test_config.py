"""Tier configs are overlays of the default (advcompress.config): what they hold, what they resolve
to, and that the library resolves them exactly as the Snakefile does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from jsonschema import ValidationError
from snakemake.utils import update_config

from advcompress.config import PATCH, load_tier, merge, read
from tests.conftest import ROOT, copy_workflow

TIERS = {"default": ROOT / "config/config.yaml", "smoke": ROOT / "config/smoke.yaml",
         "paper": ROOT / "config/paper.yaml"}


def same(a, b) -> bool:
    """Equal as the jobs' settings JSON sees them: 1 and 1.0 differ, and so does key order."""
    return json.dumps(a) == json.dumps(b)


def needless(overlay: dict, default: dict, where: str = "") -> list[str]:
    """Paths in `overlay` that change nothing: a value equal to the default's, or a `$patch:
    replace` that a plain merge would match (same keys, same order)."""
    found = []
    for key, value in overlay.items():
        path = f"{where}.{key}" if where else key
        if key == PATCH or key not in default:
            continue
        if isinstance(value, dict) and isinstance(default[key], dict):
            if value.get(PATCH) == "replace":
                body = {k: v for k, v in value.items() if k != PATCH}
                if same(merge(default[key], body), merge({}, body)):
                    found.append(f"{path} ({PATCH})")
            else:
                found += needless(value, default[key], path)
        elif same(value, default[key]):
            found.append(path)
    return found


@pytest.mark.parametrize("tier", ["smoke", "paper"])
def test_an_overlay_holds_only_what_its_tier_changes(tier):
    assert needless(read(TIERS[tier]), load_tier(root=ROOT)) == []


def test_the_check_for_needless_keys_finds_them():
    default = load_tier(root=ROOT)
    overlay = {"seed": 0, "train": {"lr": 1.0e-3, "steps": 7},
               "classify": {"attacks": {PATCH: "replace", **default["classify"]["attacks"]}}}
    assert needless(overlay, default) == ["seed", "train.lr", "classify.attacks ($patch)"]


def test_the_default_holds_every_key():
    """Nothing of the default tier comes from a schema default or from another file."""
    assert same(read(TIERS["default"]), load_tier(TIERS["default"], root=ROOT))
    assert same(load_tier(root=ROOT), load_tier(TIERS["default"], root=ROOT))


def test_resolved_tiers_keep_their_anchor_facts():
    """What each tier ran with before it became an overlay: dropped entries stay dropped, and the
    keys a tier does not name come from the default at every depth."""
    default, smoke, paper = (load_tier(TIERS[t], root=ROOT) for t in ["default", "smoke", "paper"])
    assert list(smoke["codecs"]["learned"]) == ["bmshj2018-factorized", "mbt2018-mean-vbr", "bmshj2018-hyperprior"]
    assert smoke["codecs"]["learned"]["bmshj2018-factorized"] == {
        "weights": "trained", "qualities": [2, 6], "widths": {"N": 32, "M": 48}}
    assert list(smoke["codecs"]["classic"]) == ["jpeg", "webp"]
    assert "tiles" not in smoke["data"]["eval"] and smoke["data"]["train"] == {
        "kind": "bundled", "images": ["motorcycle_left", "hubble_deep_field", "ihc"], "short_side": 128, "crop": None}
    assert smoke["attack"]["steps"] == 4 and smoke["attack"]["directions"] == default["attack"]["directions"]
    assert smoke["defense"]["at"]["attack"] == {"epsilon": 1.0e-3, "steps": 2, "lr": 1.0e-2, "lr_final": 1.0e-3,
                                                "max_warmup_steps": 4, "proxy": "ste"}
    assert list(smoke["defense"]["at"]["samples"]) == ["srda", "sda"]
    assert list(smoke["classify"]["attacks"]) == ["fgsm", "ifgsm", "cw", "deepfool"]
    assert list(smoke["backdoor"]["triggers"]) == ["gauss", "logo"]
    assert smoke["backdoor"]["lic"]["curriculum"] == default["backdoor"]["lic"]["curriculum"] is not None
    assert smoke["backdoor"]["lic"]["qualities"] is None and smoke["backdoor"]["lic"]["trigger"]["hidden"] == 8
    assert smoke["train"] == {"steps": 200, "warm_start": True, "warm_start_steps": 100, "variable_rate_factor": 1.0,
                              "variable_rate_top_first": 0.0, "batch_size": 8, "patch": 64, "lr": 2.0e-3,
                              "aux_lr": 1.0e-3}

    assert paper["backdoor"]["lic"]["curriculum"] is None  # null replaces a mapping
    assert paper["backdoor"]["triggers"]["trojan"] == {"kind": "trojannn", "patch": 8, "neurons": 2, "steps": 500,
                                                       "lr": 0.1}
    assert list(paper["codecs"]["learned"])[:4] == ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018",
                                                    "cheng2020-attn"]
    assert paper["codecs"]["learned"]["stf"] == {"weights": "pretrained", "qualities": [1, 2, 3, 4, 5, 6]}
    assert paper["codecs"]["classic"]["jpeg2000"] == [200, 100, 50, 30, 20, 10] and "heif" in paper["codecs"]["classic"]
    assert list(paper["classify"]["nets"]) == ["resnet50", "vit_b_16", "resnet50-imagenet", "vit_b_16-imagenet"]
    assert paper["classify"]["attacks"]["pgd"] == default["classify"]["attacks"]["pgd"]
    assert list(paper["defense"]["at"]["samples"]) == ["srda", "sra", "sda"]
    assert paper["data"]["eval"]["kind"] == "fetch" and "images" not in paper["data"]["eval"]
    assert paper["data"]["digits"] == default["data"]["digits"]
    assert paper["attack"]["images"] is None and paper["attack"]["gallery"]["direction"] == "rd2e-2"


CASES = [
    ({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": {"f": None}}),
    ({"a": {"b": 1}}, {"a": None}),  # null replaces a mapping
    ({"a": None}, {"a": {"b": 1}}),  # a mapping replaces null
    ({"a": 3}, {"a": {}}),  # an empty mapping leaves a non-mapping as it was
    ({}, {"a": {}}),
    ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {PATCH: "replace", "c": 5}}}),  # an ordinary key to Snakemake
]


@pytest.mark.parametrize("base, overlay", CASES)
def test_merge_without_patches_is_snakemakes(base, overlay):
    expected = json.loads(json.dumps(base))
    update_config(expected, overlay)
    assert same(merge(base, overlay, patches=False), expected)


def test_patch_replace_drops_the_defaults_keys_and_a_bad_patch_names_its_key():
    base = {"a": {"b": {"c": 1, "d": 2}, "e": 3}}
    assert merge(base, {"a": {"b": {PATCH: "replace", "d": 5}}}) == {"a": {"b": {"d": 5}, "e": 3}}
    assert merge(base, {"a": {"b": {"d": 5}}}) == {"a": {"b": {"c": 1, "d": 5}, "e": 3}}
    with pytest.raises(ValueError, match=r"a\.b: \$patch must be 'replace'"):
        merge(base, {"a": {"b": {PATCH: "merge"}}})


@pytest.mark.parametrize("overlay, key", [
    ({"train": {"pach_size": 3}}, "pach_size"),
    ({"attack": {"stepz": 3}}, "stepz"),  # a study's section, checked by its own schema
    ({"codecs": {"classic": {PATCH: "replace", "jepg": [5]}}}, "jepg"),
])
def test_an_unknown_key_in_an_overlay_fails_naming_it(tmp_path, overlay, key):
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({**read(TIERS["smoke"]), **overlay}))
    with pytest.raises(ValidationError, match=f"'{key}' was unexpected"):
        load_tier(path, root=ROOT)


def test_several_overlays_merge_in_order_as_snakemake_merges_several_configfiles(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"codecs": {"learned": {"bmshj2018-hyperprior": {"steps": 7}}}, "seed": 3}))
    tier = load_tier(TIERS["smoke"], extra, root=ROOT)
    assert tier["seed"] == 3 and list(tier["codecs"]["learned"]) == list(load_tier(TIERS["smoke"], root=ROOT)
                                                                            ["codecs"]["learned"])
    assert tier["codecs"]["learned"]["bmshj2018-hyperprior"] == {"weights": "trained", "qualities": [1],
                                                                  "widths": {"N": 64, "M": 96}, "steps": 7}


DUMP = """\
import json
include: "Snakefile"
with open("resolved.json", "w") as _f:
    json.dump(config, _f)
"""


def test_load_tier_is_the_config_snakemake_runs_with(tmp_path):
    """The Snakefile itself, given each tier as --configfile: parsed, no DAG."""
    work = copy_workflow(tmp_path / "wf")
    (work / "dump.smk").write_text(DUMP)
    for tier, path in TIERS.items():
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", "dump.smk", "--list-rules",
                               "--configfile", str(path.relative_to(ROOT))], cwd=work, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert same(json.loads((work / "resolved.json").read_text()), load_tier(path, root=ROOT)), tier
