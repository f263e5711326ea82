"""The attack and defense figures are registries (advcompress.attack_figures, .defense_figures):
each registered figure draws through its study's CLI command from the inputs and settings it
declares, has its caption, and is drawn by the study's one rule, which takes no unregistered name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import product
from types import SimpleNamespace

import jinja2
import numpy as np
import pandas as pd
import pytest
import yaml

from advcompress.attack_figures import FIGURES as ATTACK
from advcompress.cli import main
from advcompress.defense_figures import FIGURES as DEFENSE
from advcompress.figure_registry import as_arguments
from advcompress.io import write_table
from tests.conftest import ROOT, copy_workflow, snakemake

STUDIES = {"attack": ATTACK, "defense": DEFENSE}
QUALITIES = {"m1": [1, 2], "m2": [3, 5, 8]}  # models with different numbers of submodels
DIRECTIONS, IMAGES = ["sra", "sda"], ["a", "b"]
# The defended codecs of the defense figures, by base model and defense (advcompress.plan.defense.labels).
LABELS = {"m1": {"model": "m1", "defense": "none"}, "m1@at-srda": {"model": "m1", "defense": "AT"},
          "m1+online": {"model": "m1", "defense": "online"},
          "m1@at-srda+online": {"model": "m1", "defense": "AT + online"}}
# A value for every setting a figure may declare; a figure reading a key it does not declare fails.
VALUES = {"attack_label": "SRDA", "directions": DIRECTIONS, "seed": 0, "gallery_image": 1,
          "gallery_direction": "sda", "gallery_quality_index": 1, "transfer_source_index": 0,
          "mask_direction": "sda", "mask_threshold": 0.5, "attack": "srda", "labels": LABELS}


# -- tiny inputs in the layout the attack jobs write: <attack>/<model>/{rows,local,latents}.csv, gallery.npz


def _rows(model, attack, rng, codec=None):
    qs, rows = QUALITIES[model], []
    sources = [[q] for q in qs] if attack == "srda" else [qs]
    for src, d, q, image in product(sources, DIRECTIONS, qs, IMAGES):
        clean = {"bpp_actual": 0.2 * q, "bpp_est": 0.2 * q, "mse255": 40.0 / q, "psnr_db": 30.0 + q}
        adv = {k: v * rng.uniform(1.0, 1.5) for k, v in clean.items()}
        rows.append({"model": codec or model, "attack": attack, "direction": d, "image": image,
                     "attacked_quality": str(src[0]) if len(src) == 1 else "all", "quality": q,
                     "transfer": attack == "srda" and q != src[0], "proxy": "ste", "error": "",
                     "error_clean": "", **adv, **{f"{k}_clean": v for k, v in clean.items()},
                     "dR_actual_bpp": adv["bpp_actual"] - clean["bpp_actual"],
                     "dR_est_bpp": adv["bpp_est"] - clean["bpp_est"], "dD_mse255": adv["mse255"] - clean["mse255"]})
    return pd.DataFrame(rows)


def _attack_outputs(root, attack, model, rng) -> None:
    qs, d = QUALITIES[model], root / attack / model
    write_table(d / "rows.csv", _rows(model, attack, rng))
    keys = [{"model": model, "attack": attack, "direction": di, "quality": q, "image": im}
            for di, q, im in product(DIRECTIONS, qs, IMAGES)]
    write_table(d / "local.csv", pd.DataFrame(
        [{**k, "metric": m, "threshold": t, "ratio": rng.uniform(), "n_nonfinite": 0}
         for k, m, t in product(keys, ["rate", "distortion"], [0, 1, 10])]))
    write_table(d / "latents.csv", pd.DataFrame(
        [{"model": model, "attack": attack, "quality": q, "direction": di, "feature": f, "channel": c,
          "min": -rng.uniform(), "max": rng.uniform(), "n_nonfinite": 0}
         for q, di, f, c in product(qs, ["clean", *DIRECTIONS], ["y_hat", "z_hat"], range(3))]))
    img = lambda *shape: rng.uniform(size=shape).astype(np.float16)  # noqa: E731
    gallery = {"clean": img(3, 8, 8)} | {f"recon_clean/q{q}": img(3, 8, 8) for q in qs}
    for q, di in product(qs, DIRECTIONS):
        gallery |= {f"adv/q{q}/{di}": img(3, 8, 8), f"recon/q{q}/{di}": img(3, 8, 8),
                    f"ddist/q{q}/{di}": rng.uniform(size=(8, 8)).astype(np.float32)}
    np.savez_compressed(d / "gallery.npz", **gallery)


def _defense_outputs(root, rng) -> None:
    for codec, lab in LABELS.items():
        write_table(root / "srda" / codec / "rows.csv", _rows(lab["model"], "srda", rng, codec))
        clean = [{"codec": codec, "family": "learned", "quality": q, "image": im, "bpp_est": 0.2 * q,
                  "bpp_actual": 0.2 * q * rng.uniform(1, 1.1), "mse255": 40.0 / q, "psnr_db": 30.0 + q,
                  "ms_ssim": 0.9, "encode_s": 0.1, "decode_s": 0.1, "error": ""}
                 for q, im in product(QUALITIES["m1"], IMAGES)]
        write_table(root / "clean" / codec / "clean.csv", pd.DataFrame(clean))


def _tau_outputs(root, model, rng) -> None:
    """The ARDA temperature ablation's rows: ARDA rows per tau rule, tau = gamma_d only where gamma_d > 0."""
    frames = []
    for rule, tau in [("tau=0.1", 0.1), ("tau=1", 1.0), ("tau=gamma_d", None)]:
        r = _rows(model, "arda", rng)
        if tau is None:
            r = r[r["direction"] == "sda"]
        spread = rng.uniform(0.34, 1.0, len(r))
        frames.append(r.assign(tau=tau or 1.0, tau_rule=rule, n_submodels=len(QUALITIES[model]),
                               w_max_mean=spread, w_max_final=spread))
    write_table(root / "tau_ablation" / model / "rows.csv", pd.concat(frames, ignore_index=True))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root, rng = tmp_path_factory.mktemp("outputs"), np.random.default_rng(0)
    for attack, model in product(["srda", "arda"], QUALITIES):
        _attack_outputs(root / "attack", attack, model, rng)
    for model in QUALITIES:
        _tau_outputs(root / "attack", model, rng)
    _defense_outputs(root / "defense", rng)
    return root


def _inputs(study, fig, root) -> dict[str, list[str]]:
    """Role -> files, read off the registry entry as its study's planning reads it."""
    if study == "attack":  # "<attack>/<file>" of every model
        return {role: [str(root / "attack" / spec.format(attack="srda").replace("/", f"/{m}/", 1))
                       for m in QUALITIES] for role, spec in fig.reads.items()}
    kind = {"rows": "srda/{}/rows.csv", "clean": "clean/{}/clean.csv"}  # defense labels -> codecs
    return {role: [str(root / "defense" / kind[role].format(c)) for c, lab in LABELS.items()
                   if lab["defense"] in defenses] for role, defenses in fig.reads.items()}


FIGURES = [(study, name) for study, reg in STUDIES.items() for name in reg]


@pytest.mark.parametrize("study, name", FIGURES)
def test_every_figure_draws_through_its_command_from_what_it_declares(outputs, tmp_path, study, name):
    """Only the declared settings are given, so a draw reading another key fails; inputs as the rule passes them."""
    fig = STUDIES[study][name]
    settings = {k: VALUES[k] for k in fig.settings}
    out = tmp_path / f"{name}.pdf"
    main([f"{study}-figure", "--kind", name, *as_arguments(_inputs(study, fig, outputs)),
          "--out", str(out), "--settings", json.dumps(settings)])
    assert out.stat().st_size > 1000


def test_a_figure_given_other_roles_or_too_few_settings_is_a_user_error(outputs, tmp_path, capsys):
    rows = [f"rows={outputs}/attack/srda/m1/rows.csv"]
    for argv, says in [(["--kind", "rd", "gallery=x.npz"], "reads the roles rows; given gallery"),
                       (["--kind", "rd", *rows, "--settings", '{"attack_label": "SRDA"}'], "needs directions"),
                       (["--kind", "rd", "rows.csv"], "'rows.csv' is not ROLE=FILE")]:
        with pytest.raises(SystemExit) as e:
            main(["attack-figure", *argv, "--out", str(tmp_path / "f.pdf")])
        assert e.value.code == 2 and says in capsys.readouterr().err


def test_planning_reads_the_registries_cheaply_and_a_figure_job_imports_no_torch(outputs, tmp_path):
    """Every `snakemake` call imports both registries; every figure job starts a Python (torch: 1.3 s)."""
    fig = ATTACK["rd"]
    argv = ["attack-figure", "--kind", "rd", *as_arguments(_inputs("attack", fig, outputs)), "--out",
            str(tmp_path / "rd.pdf"), "--settings", json.dumps({k: VALUES[k] for k in fig.settings})]
    code = ("import sys\nimport advcompress.attack_figures, advcompress.defense_figures\n"
            "planning = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'pandas'})\n"
            f"from advcompress.cli import main\nmain({argv!r})\n"
            "sys.exit(f'planning imports {planning}' if planning else 'torch' in sys.modules and 'job imports torch')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "rd.pdf").stat().st_size > 1000


@pytest.mark.parametrize("study, name", FIGURES)
def test_every_figure_has_its_caption_and_report_group(study, name):
    """The study's one caption file has a text for each figure, picked by the rule's params.kind."""
    template = (ROOT / "workflow" / "report" / f"{study}_figure.rst").read_text()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake renders captions
    caption = env.from_string(template)

    def text(kind):
        return caption.render(snakemake=SimpleNamespace(params=SimpleNamespace(kind=kind, attack="srda"))).strip()

    assert text(name) and not text("no-such-figure")
    assert STUDIES[study][name].group


# -- the rules --------------------------------------------------------------------------------------

DRAWN = re.compile(r"advcompress (attack|defense)-figure --kind (\S+) .*?--out (\S+)")


def test_each_study_rule_draws_every_registered_figure_and_no_other(tmp_path):
    """The default config draws every registered figure into its file; a name outside the registry
    has no rule (not a rule whose input function then fails)."""
    work = copy_workflow(tmp_path)
    tier = yaml.safe_load((work / "config" / "config.yaml").read_text())
    proc = snakemake(work, "-n", "-p", "--forceall", "attack", "defense", "--configfile", "config/config.yaml")
    drawn = {(study, kind, out) for study, kind, out in DRAWN.findall(proc.stdout + proc.stderr)}
    expected = set()
    for (study, reg), section in zip(STUDIES.items(), ["attack", "defense"], strict=True):
        for fig in reg.values():
            attacks = (fig.attacks or tier[section]["attacks"]) if fig.per_attack else [None]
            expected |= {(study, fig.name, f"{tier['results']}/figures/{study}/{fig.file.format(attack=a)}.pdf")
                         for a in attacks}
    assert drawn == expected
    for study in STUDIES:
        bogus = f"{tier['results']}/figures/{study}/srda_nope.pdf"
        proc = snakemake(work, "-n", bogus, "--configfile", "config/config.yaml", check=False)
        assert proc.returncode != 0 and "MissingRuleException" in proc.stdout + proc.stderr, proc.stderr[-2000:]
