"""Every study's figures and tables are registries (advcompress.attack.figures, .defense.figures,
classify.figures, classify.tables, backdoor.figures, backdoor.tables): each registered figure or
table draws through its study's CLI command from the inputs and settings it declares, has its
caption, and is drawn by the study's one rule, which takes no unregistered name."""

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
import torch
import yaml
from PIL import Image

from advcompress.attack.figures import FIGURES as ATTACK
from advcompress.backdoor.figures import FIGURES as BACKDOOR
from advcompress.backdoor.tables import TABLES as BACKDOOR_TABLES
from advcompress.classify.figures import FIGURES as CLASSIFY
from advcompress.classify.tables import TABLES as CLASSIFY_TABLES
from advcompress.cli import main
from advcompress.defense.figures import FIGURES as DEFENSE
from advcompress.figure_registry import as_arguments
from advcompress.io import write_table
from tests.conftest import ROOT, copy_workflow, snakemake

STUDIES = {"attack": ATTACK, "defense": DEFENSE, "classify": CLASSIFY, "backdoor": BACKDOOR}
TABLE_STUDIES = {"classify": CLASSIFY_TABLES, "backdoor": BACKDOOR_TABLES}
QUALITIES = {"m1": [1, 2], "m2": [3, 5, 8]}  # models with different numbers of submodels
DIRECTIONS, IMAGES = ["sra", "sda"], ["a", "b"]
# The defended codecs of the defense figures, by base model and defense (advcompress.plan.defense.labels).
LABELS = {"m1": {"model": "m1", "defense": "none"}, "m1@at-srda": {"model": "m1", "defense": "AT"},
          "m1+online": {"model": "m1", "defense": "online"},
          "m1@at-srda+online": {"model": "m1", "defense": "AT + online"}}
# A value for every setting a figure may declare; a figure reading a key it does not declare fails.
VALUES = {"attack_label": "SRDA", "directions": DIRECTIONS, "seed": 0, "gallery_image": 1,
          "gallery_direction": "sda", "gallery_quality_index": 1, "transfer_source_index": 0,
          "mask_direction": "sda", "mask_threshold": 0.5, "attack": "srda", "labels": LABELS,
          "l2_thresholds": [0.5, 2.0], "studies": {"triggers": ["gauss"]}, "test_codecs": {"jpeg": 50, "webp": 50}}


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


# -- the classify study's rows: <net>/attack/<attack>/<defense>.csv, ablation/, sequential/, bpp/, ...

CLS_ATTACKS = {"fgsm": "linf", "ifgsm": "linf", "pgd": "linf", "cw": "l2", "deepfool": "l2"}


def _classify_outputs(root, rng) -> dict[str, list[str]]:
    """Writes one net's rows of every kind; returns the groups classify.figures and .tables read
    (advcompress.plan.classify.table_inputs, adaptive_examples) -> files."""
    d, groups = root / "cnn", {}

    def rows(path, group, records):
        write_table(d / path, pd.DataFrame([{"net": "cnn", "image": i, "error": "", **r} for r in records
                                            for i in range(4)]))
        groups.setdefault(group, []).append(str(d / path))

    def correct():
        return float(rng.random() < 0.6)

    for (attack, kind), defense in product(CLS_ATTACKS.items(), ["none", "jpeg@25"]):
        if kind == "linf":
            recs = [{"eps_255": e, "correct": correct()} for e in (2.0, 8.0)]
        else:
            recs = [{"eps_255": float("nan"), "correct": correct(), "correct_clean": 1.0, "l2_pixel": rng.uniform(0, 3)}]
        recs = [{"attack": attack, "defense": defense, "through": th, **r} for r in recs for th in (False, True)]
        rows(f"attack/{attack}/{defense}.csv", kind, recs)
        if attack == "ifgsm":
            groups.setdefault("ifgsm", []).append(groups[kind][-1])
    for q in (10, 50):
        rows(f"ablation/jpeg@{q}.csv", "ablation", [{"attack": "ifgsm", "defense": f"jpeg@{q}", "through": th,
                                                    "eps_255": e, "correct": correct()}
                                                   for th in (False, True) for e in (2.0, 8.0)])
    for q in (1, 4):  # a learned codec's quality ablation (Tables 7-8)
        rows(f"ablation/m@{q}.csv", "codec_ablation", [{"attack": "ifgsm", "defense": f"m@{q}", "through": th,
                                                        "eps_255": e, "correct": correct()}
                                                       for th in (False, True) for e in (0.0, 8.0)])
    for n in (1, 2):
        rows(f"sequential/jpeg@25x{n}.csv", "sequential", [{"attack": "ifgsm", "defense": f"jpeg@25x{n}",
                                                           "through": True, "eps_255": e, "correct": correct()}
                                                          for e in (0.0, 8.0)])
    rows("bpp/jpeg.csv", "bpp", [{"codec": "jpeg", "quality": q, "defense": f"jpeg@{q}", "bpp_actual": q / 40,
                                  "mse255": 9.0, "psnr_db": 30.0, "correct": correct()} for q in (10, 50)])
    rows("overhead.csv", "overhead", [{"defense": "jpeg@25", "s_per_image": 0.01}])
    rows("adaptive.csv", "adaptive", [{"method": m, "correct": correct(), "agree_clean": 1.0, "mse255": 9.0,
                                       "ssim": 0.9, "psnr_db": 30.0, "bytes": 900, "size_ratio": 1.0,
                                       "size_matched": True} for m in ("jpeg", "saliency", "aug_saliency")])
    rows("adaptive_quality.csv", "adaptive_quality", [{"attack": "ifgsm", "eps_255": 8, "input": inp, "quality": q,
                                                      "correct": correct(), "agree_clean": correct(), "bpp_actual": q / 40}
                                                     for inp in ("clean", "adversarial") for q in (10, 50)])
    for attack in ("ifgsm", "fgsm"):
        rows(f"adaptive/{attack}.csv", "adaptive_attacks", [{"attack": attack, "method": m, "correct": correct(),
                                                             "agree_clean": correct()}
                                                            for m in ("jpeg", "saliency", "aug_saliency")])
    torch.save({"original": torch.rand(2, 3, 8, 8), "rounds": 3, "defenses": ["m@1", "jpeg@25"],
                "images": {"m@1": torch.rand(2, 3, 8, 8), "jpeg@25": torch.rand(2, 3, 8, 8)}}, d / "cycles.pt")
    groups["cycles"] = [str(d / "cycles.pt")]
    img = torch.rand(2, 3, 8, 8)
    examples = {k: img for k in ("original", "adversarial", "jpeg", "saliency", "aug_saliency")}
    torch.save({**examples, "aug_saliency_map": torch.rand(2, 8, 8)}, d / "adaptive_examples.pt")
    groups["adaptive_examples"] = [str(d / "adaptive_examples.pt")]
    return groups


# -- the backdoor studies' rows: runs/<run>.csv (backdoor-train), lic/<model>/q<q>_{rd,ds,defense}.csv, an example

BD_RUNS = {"common-gauss": "main", "fc-gauss": "main", "adversarial-gauss": "main", "fc-gauss-ir0.03": "ir",
           "fc-gauss-a1": "alpha", "fc-gauss-only-jpeg": "transfer", "fc-gauss-e2": "epochs", "fc-gauss-lr0.2": "lr",
           "fc-gauss-alexnet": "archs", "common-gauss-vgg16": "archs arch_triggers",
           "fc-gauss-vgg16": "archs arch_triggers arch_transfer", "fc-logo-vgg16": "arch_triggers",
           "fc-gauss-only-jpeg-vgg16": "arch_transfer"}


def _backdoor_outputs(root, rng) -> dict[str, list[str]]:
    """Writes the rows of both backdoor studies; returns each source backdoor.figures and .tables
    read (`runs:<sweep>`, `fc-main`, `lic:<rows>`) -> files."""
    sources: dict[str, list[str]] = {"fc-main": [str(root / "runs" / "fc-gauss.csv")]}
    for run, sweeps in BD_RUNS.items():
        method, trigger = run.split("-")[:2]
        base = {"run": run, "arch": "vgg16" if "vgg16" in run else "alexnet" if "alexnet" in run else "resnet18",
                "method": method, "trigger": trigger, "alpha": 1.0 if "a1" in run else 0.1,
                "ir": 0.03 if "ir" in run else 0.1, "epochs": 2 if "-e2" in run else 4,
                "lr": 0.2 if "lr" in run else 0.02, "n_clean": 100, "n_backdoor": 10,
                "train_codecs": "jpeg" if "only" in run else "none" if method == "common" else "jpeg+webp"}
        rows = [{**base, "metric": "ta", "codec": "none", "quality": "", "hits": 90, "n": 100, "rate": 0.9, "note": ""}]
        for codec, q in [("none", ""), ("jpeg", 10), ("jpeg", 50), ("webp", 50)]:
            h = int(rng.integers(0, 50))
            rows.append({**base, "metric": "asr", "codec": codec, "quality": q, "hits": h, "n": 50, "rate": h / 50,
                         "note": ""})
        write_table(root / "runs" / f"{run}.csv", pd.DataFrame(rows))
        for sweep in sweeps.split():
            sources.setdefault(f"runs:{sweep}", []).append(str(root / "runs" / f"{run}.csv"))
    for q in (1, 4):
        d = root / "lic" / "m"
        key = {"model": "m", "quality": q, "error": ""}
        rd = [{**key, "image": i, "encoder": enc, "trigger": t, "bpp_actual": q * rng.uniform(0.2, 0.4),
               "bpp_est": q * 0.3, "psnr_db": 28.0 + q, "psnr_vs_clean_db": 28.0 + q - rng.uniform(0, 3),
               "trigger_mse": 0.0 if t == "none" else 1.0}
              for i, enc, t in product(range(3), ["original", "backdoored"], ["none", "bpp", "psnr", "ds"])]
        ds = [{**key, "image": i, "encoder": enc, "trigger": t, "label": i % 3, "pred": 0, "correct": float(i % 3 == 0),
               "hit_target": float("nan") if i % 3 == 0 else 1.0, "bpp_actual": q * rng.uniform(0.5, 1.0),
               "psnr_vs_clean_db": 20.0 + q - rng.uniform(0, 3)}
              for i, enc, t in product(range(6), ["original", "backdoored"], ["none", "ds"])]
        defense = [{**key, "image": i, "defense": name, "value": v, "trigger": t, "psnr_vs_clean_db": 28.0,
                    "bpp_actual": 0.5} for i, (name, v), t in product(range(3), [("blur", 0.5), ("bits", 4)],
                                                                       ["none", "bpp"])]
        amplified = [{**key, "image": i, "defense": name, "value": v, "trigger": "bpp", "amplify": 3.0,
                      "trigger_mse": 2e-4, "psnr_vs_clean_db": 20.0, "bpp_actual": 0.9}
                     for i, (name, v) in product(range(3), [("none", ""), ("blur", 0.5)])]
        seg = [{**key, "image": i, "encoder": enc, "trigger": t, "asr_hits": 500, "source_pixels": 1024,
                "pixel_asr": rng.uniform(0, 1), "other_accuracy": 0.9, "output_mse": 1e-4, "bpp_actual": 1.0,
                "psnr_vs_clean_db": 20.0} for i, enc, t in product(range(3), ["original", "backdoored"], ["none", "seg"])]
        for kind, recs in [("rd", rd), ("ds", ds), ("defense", defense), ("amplified", amplified), ("seg", seg)]:
            write_table(d / f"q{q}_{kind}.csv", pd.DataFrame(recs))
            sources.setdefault(f"lic:{kind}", []).append(str(d / f"q{q}_{kind}.csv"))
        for kind, recs in [("ds", ds), ("defense", defense), ("amplified", amplified), ("seg", seg)]:  # LIRA's
            write_table(d / f"q{q}_lira_{kind}.csv", pd.DataFrame(recs).assign(method="lira"))
            sources.setdefault(f"lic:lira_{kind}", []).append(str(d / f"q{q}_lira_{kind}.csv"))
    example = root / "lic" / "m" / "q4_example"
    example.mkdir()
    for kind, t in product(["input", "recon"], ["none", "bpp"]):
        Image.fromarray((rng.uniform(size=(8, 8, 3)) * 255).astype(np.uint8)).save(example / f"{kind}_{t}.png")
    sources["lic:example"] = [str(example)]
    return sources


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root, rng = tmp_path_factory.mktemp("outputs"), np.random.default_rng(0)
    for attack, model in product(["srda", "arda"], QUALITIES):
        _attack_outputs(root / "attack", attack, model, rng)
    for model in QUALITIES:
        _tau_outputs(root / "attack", model, rng)
    _defense_outputs(root / "defense", rng)
    return SimpleNamespace(root=root, classify=_classify_outputs(root / "classify", rng),
                           backdoor=_backdoor_outputs(root / "backdoor", rng))


def _inputs(study, fig, outputs) -> dict[str, list[str]]:
    """Role -> files, read off the registry entry as its study's planning reads it."""
    root = outputs.root
    if study == "attack":  # "<attack>/<file>" of every model
        return {role: [str(root / "attack" / spec.format(attack="srda").replace("/", f"/{m}/", 1))
                       for m in QUALITIES] for role, spec in fig.reads.items()}
    if study == "classify":  # a group of job outputs
        return {role: outputs.classify[group] for role, group in fig.reads.items()}
    if study == "backdoor":  # sources, in order
        return {role: [f for s in sources for f in outputs.backdoor[s]] for role, sources in fig.reads.items()}
    kind = {"rows": "srda/{}/rows.csv", "clean": "clean/{}/clean.csv"}  # defense labels -> codecs
    return {role: [str(root / "defense" / kind[role].format(c)) for c, lab in LABELS.items()
                   if lab["defense"] in defenses] for role, defenses in fig.reads.items()}


def _command(study, what, name, inputs, outs, settings) -> list[str]:
    """The command line as the study's rule writes it: attack and defense take ROLE=FILE inputs;
    classify and backdoor take the one role's files (classify: the kind first, backdoor: --kind)."""
    out = ["--out", outs[0]] if what == "figure" else ["--out-csv", outs[0], "--out-md", outs[1]]
    opts = ["--settings", json.dumps(settings)] if settings or study in ("attack", "defense") else []
    if study == "classify":
        return [f"classify-{what}", name, *[f for files in inputs.values() for f in files], *out, *opts]
    if study == "backdoor":
        return [f"backdoor-{what}", *[f for files in inputs.values() for f in files], "--kind", name, *out, *opts]
    return [f"{study}-{what}", "--kind", name, *as_arguments(inputs), *out, *opts]


FIGURES = [(study, name) for study, reg in STUDIES.items() for name in reg]
TABLES = [(study, name) for study, reg in TABLE_STUDIES.items() for name in reg]


@pytest.mark.parametrize("study, name", FIGURES)
def test_every_figure_draws_through_its_command_from_what_it_declares(outputs, tmp_path, study, name):
    """Only the declared settings are given, so a draw reading another key fails; inputs as the rule passes them."""
    fig = STUDIES[study][name]
    settings = {k: VALUES[k] for k in fig.settings}
    out = tmp_path / (name + "." + (fig.file.rsplit(".", 1)[1] if study == "backdoor" else "pdf"))
    main(_command(study, "figure", name, _inputs(study, fig, outputs), [str(out)], settings))
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("study, name", TABLES)
def test_every_table_is_written_through_its_command_from_what_it_declares(outputs, tmp_path, study, name):
    """As the figures: only the declared settings; a CSV with rows and its Markdown table."""
    table = TABLE_STUDIES[study][name]
    settings = {k: VALUES[k] for k in table.settings}
    csv, md = tmp_path / f"{name}.csv", tmp_path / f"{name}.md"
    main(_command(study, "table", name, _inputs(study, table, outputs), [str(csv), str(md)], settings))
    assert len(pd.read_csv(csv)) > 0 and md.read_text().count("\n|") >= 2


def test_a_figure_given_other_roles_or_too_few_settings_is_a_user_error(outputs, tmp_path, capsys):
    rows = [f"rows={outputs.root}/attack/srda/m1/rows.csv"]
    for argv, says in [(["--kind", "rd", "gallery=x.npz"], "reads the roles rows; given gallery"),
                       (["--kind", "rd", *rows, "--settings", '{"attack_label": "SRDA"}'], "needs directions"),
                       (["--kind", "rd", "rows.csv"], "'rows.csv' is not ROLE=FILE")]:
        with pytest.raises(SystemExit) as e:
            main(["attack-figure", *argv, "--out", str(tmp_path / "f.pdf")])
        assert e.value.code == 2 and says in capsys.readouterr().err


def test_planning_reads_the_registries_cheaply_and_a_figure_job_imports_no_torch(outputs, tmp_path):
    """Every `snakemake` call imports the plan and every registry; every table and figure job starts
    a Python, and importing torch (1.3 s) doubled their cost. One fresh process: planning's imports,
    then a figure job, a table command through its error path (a missing input), and every module
    the other table and figure commands use."""
    fig = ATTACK["rd"]
    argv = ["attack-figure", "--kind", "rd", *as_arguments(_inputs("attack", fig, outputs)), "--out",
            str(tmp_path / "rd.pdf"), "--settings", json.dumps({k: VALUES[k] for k in fig.settings})]
    table = ["rd-table", str(tmp_path / "missing.csv"), "--out-csv", str(tmp_path / "t.csv"),
             "--out-md", str(tmp_path / "t.md")]
    modules = ["attack.plots", "attack.tables", "defense.plots", "defense.tables", "foundation.plots",
               "foundation.tables", "tables", "backdoor.report", "classify.report"]
    code = ("import sys\nimport advcompress.plan, advcompress.attack.figures, advcompress.defense.figures\n"
            "import advcompress.classify.figures, advcompress.classify.tables\n"
            "import advcompress.backdoor.figures, advcompress.backdoor.tables\n"
            "planning = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'pandas'})\n"
            "if planning:\n    sys.exit(f'planning imports {planning}')\n"
            f"from advcompress.cli import main\nmain({argv!r})\n"
            f"try:\n    main({table!r})\nexcept SystemExit as e:\n    assert e.code == 2, e.code\n"
            + "".join(f"import advcompress.{m}\n" for m in modules)
            + "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
            "sys.exit(f'torch imported: {loaded[:3]}' if loaded else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "rd.pdf").stat().st_size > 1000


@pytest.mark.parametrize("study, what, name", [(s, "figure", n) for s, n in FIGURES]
                         + [(s, "table", n) for s, n in TABLES])
def test_every_figure_and_table_has_its_caption_and_report_group(study, what, name):
    """The rule's one caption file has a text for each entry, picked by the rule's params.kind (a
    table caption's closing paragraph is common to all its tables)."""
    template = (ROOT / "workflow" / "report" / f"{study}_{what}.rst").read_text()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake renders captions
    caption = env.from_string(template)

    def text(kind):
        return caption.render(snakemake=SimpleNamespace(params=SimpleNamespace(kind=kind, attack="srda"))).strip()

    assert text(name) and text(name) != text("no-such-entry")
    assert (STUDIES if what == "figure" else TABLE_STUDIES)[study][name].group


# -- the rules --------------------------------------------------------------------------------------

DRAWN = re.compile(r"advcompress (attack|defense)-(figure) --kind (\S+) .*?--out (\S+)"
                   r"|advcompress (classify)-(figure|table) (\S+) .*?--out(?:-csv)? (\S+)"
                   r"|advcompress (backdoor)-(figure|table) .*?--kind (\S+) --out(?:-csv)? (\S+)")


def _each(tier, study, e) -> list[str]:
    """The values of an entry with one file per attack, net or codec (classify: adaptive nets; the
    ablated learned codecs, or the codecs of the sequential bases)."""
    cls = tier["classify"]
    if study != "classify":
        return e.attacks or tier[study]["attacks"]
    if e.each == "net":
        return cls["adaptive"]["nets"]
    if "codec_ablation" in e.reads.values():
        return list(cls["codec_ablation"])
    return list(dict.fromkeys(d.split("@")[0] for d in cls["sequential"]["defenses"]))


# Entries the default tier does not plan, with the reason in docs/backdoor.md (the other
# architectures cost more than its budget holds): the smoke and paper tiers draw them.
NOT_IN_DEFAULT = {("backdoor", "table", "table7"), ("backdoor", "figure", "fig6b"), ("backdoor", "figure", "fig7b"),
                  ("backdoor", "table", "lic_lira")}


def _expected(tier) -> set[tuple[str, str, str, str]]:
    """(study, figure or table, name, file) of every registered entry the default tier plans, in its results."""
    out = set()
    path = {"attack": "figures/attack/{}.pdf", "defense": "figures/defense/{}.pdf", "classify": "figures/classify_{}.pdf",
            "backdoor": "figures/backdoor_{}"}
    for what, registries in [("figure", STUDIES), ("table", TABLE_STUDIES)]:
        for study, reg in registries.items():
            for e in reg.values():
                if (study, what, e.name) in NOT_IN_DEFAULT:
                    continue
                files = [e.file.format(**{e.each: v}) for v in _each(tier, study, e)] if e.each else [e.file]
                pattern = path[study] if what == "figure" else f"tables/{study}_{{}}.csv"
                out |= {(study, what, e.name, f"{tier['results']}/{pattern.format(f)}") for f in files}
    return out


# The Snakefile, then the rules that would produce each of the given files, by Snakemake's own
# matcher (Rule.is_producer: a target no rule matches is its MissingRuleException).
PRODUCERS = """
import json
include: "Snakefile"
with open("producers.json", "w") as _f:
    json.dump({{t: [r.name for r in workflow.rules if r.is_producer(t)] for t in {targets!r}}}, _f)
"""


def test_each_study_rule_draws_every_registered_figure_and_table_and_no_other(tmp_path):
    """The default config draws every registered figure and writes every registered table into its
    file; a name outside a registry has no rule (not a rule whose input function then fails).
    One Snakemake run (3-4 CPU s each) plans the drawings and matches the unregistered names."""
    work = copy_workflow(tmp_path)
    tier = yaml.safe_load((work / "config" / "config.yaml").read_text())
    bogus = [f"{tier['results']}/{b}" for b in ["figures/attack/srda_nope.pdf", "figures/defense/srda_nope.pdf",
             "figures/classify_nope.pdf", "tables/classify_nope.csv", "figures/backdoor_nope.pdf",
             "tables/backdoor_nope.csv"]]
    (work / "producers.smk").write_text(PRODUCERS.format(targets=bogus))
    proc = snakemake(work, "-s", "producers.smk", "-n", "-p", "--forceall", *STUDIES, "--configfile",
                     "config/config.yaml")
    drawn = {tuple(filter(None, m)) for m in DRAWN.findall(proc.stdout + proc.stderr)}
    assert drawn == _expected(tier)
    producers = json.loads((work / "producers.json").read_text())
    assert producers == {b: [] for b in bogus}
