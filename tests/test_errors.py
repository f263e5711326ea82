"""Bad input: one clear error line, nothing half-written."""

import re

import pytest
import torch
import yaml

from advcompress import plan
from advcompress.codecs.learned import CheckpointError, load_learned_codec, save_checkpoint
from advcompress.data import prepare_skimage_photos
from tests.conftest import ROOT, copy_workflow, failing_job, resolved, snakemake


def test_corrupted_checkpoint_is_one_clear_error_and_no_output(tmp_path, capsys, caplog):
    codec = load_learned_codec("bmshj2018-factorized", 2, weights="untrained", widths={"N": 16, "M": 24})
    ckpt = tmp_path / "q2.pt"
    save_checkpoint(codec, ckpt, {"note": "test"})
    ckpt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 2])  # truncated, as after a crash
    try:
        load_learned_codec("bmshj2018-factorized", 2, checkpoint=str(ckpt), widths={"N": 16, "M": 24})
    except CheckpointError as e:
        assert "q2.pt is unreadable" in str(e) and "dvc pull" in str(e)
    else:
        raise AssertionError("a truncated checkpoint loaded")

    prepare_skimage_photos(tmp_path / "eval", ["astronaut"], 64, 64)
    out = tmp_path / "res" / "q2.csv"
    status, stderr = failing_job(
        ["compress", "--codec", "bmshj2018-factorized", "--quality", "2", "--eval-dir", str(tmp_path / "eval"),
         "--codec-ckpt", f"bmshj2018-factorized@2={ckpt}", "--out", str(out),
         "--settings", '{"weights": "trained", "widths": {"N": 16, "M": 24}, "device": "cpu"}'], capsys, caplog)
    assert status == 2
    errors = [line for line in stderr if "error" in line.lower()]
    assert len(errors) == 1 and "q2.pt is unreadable" in errors[0], stderr
    assert not out.exists() and not out.parent.exists()


def test_checkpoint_of_other_widths_is_a_clear_error(tmp_path):
    codec = load_learned_codec("bmshj2018-factorized", 2, weights="untrained", widths={"N": 16, "M": 24})
    save_checkpoint(codec, tmp_path / "c.pt", {})
    try:
        load_learned_codec("bmshj2018-factorized", 2, checkpoint=str(tmp_path / "c.pt"), widths={"N": 32, "M": 48})
    except CheckpointError as e:
        assert "does not fit bmshj2018-factorized" in str(e)
    else:
        raise AssertionError("loaded a checkpoint of other widths")


def test_every_study_checkpoint_loader_gives_the_same_clear_error(tmp_path):
    """Backdoored encoders, their triggers and the backdoor classifiers load through the same guard."""
    from advcompress.backdoor.lic_trigger import load_triggers
    from advcompress.classifiers import load_classifier

    bad = tmp_path / "half.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    for load in (load_classifier, load_triggers):
        with pytest.raises(CheckpointError, match="half.pt is unreadable"):
            load(bad)
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        load_classifier(tmp_path / "missing.pt")


class Arbitrary:
    """Any non-tensor object: weights_only loading must refuse to unpickle it."""


def test_pickled_object_is_refused(tmp_path):
    torch.save({"state_dict": {"x": Arbitrary()}}, tmp_path / "evil.pt")
    try:
        load_learned_codec("bmshj2018-factorized", 2, checkpoint=str(tmp_path / "evil.pt"))
    except CheckpointError as e:
        assert "unreadable" in str(e)
    else:
        raise AssertionError("weights_only=False somewhere")


def test_schema_error_names_the_offending_key(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    cfg = (work / "config" / "smoke.yaml").read_text().replace("\ntrain:\n", "\ntrain:\n  pach_size: 3\n", 1)
    (work / "config" / "bad.yaml").write_text(cfg)
    proc = snakemake(work, "-n", "--configfile", "config/bad.yaml", check=False)
    assert proc.returncode != 0
    assert "'pach_size' was unexpected" in proc.stdout + proc.stderr


def _naming_an_unconfigured_codec(study: str, key: str) -> tuple[dict, str]:
    """The smoke config with a study naming mbt2018 (registered, not in the smoke tier's
    codecs.learned), and the error that must name the study's key."""
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    section = cfg[study][key] if key == "lic" else cfg[study]
    section["models"] = ["mbt2018"]
    where = f"{study}.lic.models" if key == "lic" else f"{study}.models"
    return cfg, f"{where} lists 'mbt2018'"


@pytest.mark.parametrize("study, key", [("attack", "models"), ("defense", "models"), ("backdoor", "lic")])
def test_study_naming_an_unconfigured_codec_fails_naming_its_key(tmp_path, study, key):
    cfg, message = _naming_an_unconfigured_codec(study, key)
    with pytest.raises(ValueError, match=re.escape(message)):
        plan.targets(resolved(cfg, tmp_path))


def test_a_planning_refusal_reaches_the_snakemake_user(tmp_path):
    """The refusals above, raised by advcompress.plan, stop Snakemake at parse time with the same
    message (one end-to-end case: the other refusals take the same path)."""
    work = copy_workflow(tmp_path / "wf")
    cfg, message = _naming_an_unconfigured_codec("attack", "models")
    (work / "config" / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(work, "-n", "--configfile", "config/bad.yaml", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_help_of_the_cli_and_of_every_command_renders(capsys):
    """`advcompress --help` once died with a traceback on a literal '%' in a command's help."""
    from advcompress.cli import build_parser, main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listing = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.choices and a.dest == "command")
    for name, parser in sub.choices.items():
        assert name in listing
        assert parser.format_help().startswith("usage:")
    assert "95% bootstrap" in listing
