"""The backdoor study's plan: the compression-resistant classifier backdoor and the backdoored LIC
encoder fired by a learned frequency trigger.

Each job gets exactly the keys its `advcompress backdoor-*` command reads, so changing one key
reruns only the jobs that read it (and what follows from their outputs); never the whole section.
"""

from __future__ import annotations

from advcompress.backdoor.figures import CLASSIFIER, FIGURES, LIC
from advcompress.backdoor.runs import arch_suffix, archs, plan_runs, runs_of
from advcompress.backdoor.tables import TABLES
from advcompress.plan.core import (
    ckpt_dir,
    codec_settings,
    data_dir,
    job_key,
    learned,
    results,
)
from advcompress.plan.foundation import fetch_jobs

LIC_TRAIN_KEYS = ["steps", "batch_size", "patch", "lr", "trigger_lr", "gamma", "proxy", "curriculum", "trigger",
                  "objectives", "ds_target"]
LIC_EVAL_KEYS = ["defenses", "ds_target", "ds_images", "amplify"]


def out_dir(cfg: dict) -> str:
    return f"{results(cfg)}/backdoor"


def ckpt_out(cfg: dict) -> str:
    """What the backdoor training jobs write (with every other training output: core.ckpt_dir)."""
    return f"{ckpt_dir(cfg)}/backdoor"


def dataset(cfg: dict) -> str:
    return cfg["backdoor"].get("dataset", "digits")


def check(cfg: dict) -> None:
    bd, ds = cfg["backdoor"], dataset(cfg)
    if ds != "photos" and ds not in cfg["data"]:
        raise ValueError(f"backdoor.dataset is {ds!r}: neither photos nor a key of data ({', '.join(cfg['data'])})")
    if ds == "photos":
        for key, label in [("target_class", bd["target_class"]), ("lic.ds_target", bd["lic"]["ds_target"])]:
            if label >= len(bd["photos"]["images"]):
                raise ValueError(f"backdoor.{key} is {label}, but backdoor.photos.images has only "
                                 f"{len(bd['photos']['images'])} classes")
    extra = [a for a in bd["studies"].get("trigger_archs", []) if a not in bd["archs"][1:]]
    if extra:
        raise ValueError(f"backdoor.studies.trigger_archs lists {extra}: not among backdoor.archs after the first "
                         f"({', '.join(bd['archs'][1:]) or 'none'})")
    for m in bd["lic"]["models"]:
        if m not in learned(cfg):
            raise ValueError(f"backdoor.lic.models lists {m!r}, which is not in codecs.learned")


def images(cfg: dict) -> str:
    """The classification data: photo patches (rule backdoor_photos), digits (default, smoke) or
    cifar10 (paper)."""
    ds = dataset(cfg)
    return f"{data_dir(cfg)}/backdoor_photos" if ds == "photos" else f"{data_dir(cfg)}/{ds}"


def runs(cfg: dict) -> dict[str, dict]:
    return plan_runs(cfg["backdoor"])


def clean_stems(cfg: dict) -> dict[str, str]:
    """{file stem under classifier/: architecture} of the clean classifiers: 'clean' is the main one."""
    return {f"clean{arch_suffix(cfg['backdoor'], a)}": a for a in archs(cfg["backdoor"])}


def clean_model(cfg: dict, arch: str | None = None) -> str:
    """The clean classifier of `arch` (None: the main one, which the LIC backdoor's ds objective uses)."""
    return f"{ckpt_out(cfg)}/classifier/clean{arch_suffix(cfg['backdoor'], arch or archs(cfg['backdoor'])[0])}.pt"


def clean_ta(cfg: dict) -> str:
    """The main clean classifier's TA as a run row (the claims' reference)."""
    return f"{ckpt_out(cfg)}/classifier/clean_ta.csv"


def trigger_stems(cfg: dict) -> dict[str, tuple[str, str]]:
    """{file stem under triggers/: (trigger, architecture)} the runs read. A TrojanNN trigger is
    optimised on a clean network, so each architecture has its own (`<trigger>-<arch>` beside the
    main one's); the others do not depend on the network and are built once."""
    out = {}
    for spec in runs(cfg).values():
        arch = spec["arch"] if _per_arch(cfg, spec["trigger"]) else archs(cfg["backdoor"])[0]
        out.setdefault(_trigger_stem(cfg, spec), (spec["trigger"], arch))
    return out


def _per_arch(cfg: dict, trigger: str) -> bool:
    return cfg["backdoor"]["triggers"][trigger]["kind"] == "trojannn"


def _trigger_stem(cfg: dict, spec: dict) -> str:
    return spec["trigger"] + (arch_suffix(cfg["backdoor"], spec["arch"]) if _per_arch(cfg, spec["trigger"]) else "")


def trigger_file(cfg: dict, run: str) -> str:
    return f"{ckpt_out(cfg)}/triggers/{_trigger_stem(cfg, runs(cfg)[run])}.pt"


def run_tables(cfg: dict, study: str) -> list[str]:
    return [f"{ckpt_out(cfg)}/runs/{r}.csv" for r in runs_of(cfg["backdoor"], study)]


def _classifier(cfg: dict, phase: str, arch: str | None = None) -> dict:
    """The classifier keys one training phase reads: the clean phase the architecture and its layout
    (ResNet-18: width, blocks; AlexNet, VGG-16: their width scale); the backdoor phase loads the
    layout from the clean net, and takes its epochs and learning rate from the run (Tables 9, 10)."""
    c = cfg["backdoor"]["classifier"]
    common = {k: c[k] for k in ["batch_size", "momentum", "weight_decay"]}
    if phase == "backdoor":
        return {**common, "backdoor": {"milestones": c["backdoor"]["milestones"]}}
    layout = {"width": c["width"], "blocks": c["blocks"]} if arch == "resnet18" else {"scale": c["scale"][arch]}
    return {"arch": arch, **layout, **common, "clean": c["clean"]}


def photos_settings(cfg: dict) -> dict:
    return {"seed": cfg["seed"], "photos": cfg["backdoor"]["photos"]}


def clean_settings(cfg: dict, stem: str) -> dict:
    return {"seed": cfg["seed"], "device": cfg["device"], "classifier": _classifier(cfg, "clean", clean_stems(cfg)[stem])}


def trigger_classifier(cfg: dict, stem: str) -> str:
    """The clean network trigger file `stem` is built on (a TrojanNN trigger's neurons are its)."""
    return clean_model(cfg, trigger_stems(cfg)[stem][1])


def trigger_settings(cfg: dict, stem: str) -> dict:
    bd, trigger = cfg["backdoor"], trigger_stems(cfg)[stem][0]
    return {"seed": cfg["seed"], "triggers": {trigger: bd["triggers"][trigger]},
            "target_class": bd["target_class"], "test_codecs": bd["test_codecs"], "jpeg_sweep": bd["jpeg_sweep"]}


def lambdas(cfg: dict, arch: str) -> tuple[float, float]:
    """(lambda1, lambda2) of Eq. 4 for `arch`: backdoor.arch_lambdas, else lambda1 and lambda2 (ResNet)."""
    bd = cfg["backdoor"]
    own = bd.get("arch_lambdas", {}).get(arch)
    return (float(own[0]), float(own[1])) if own else (float(bd["lambda1"]), float(bd["lambda2"]))


def train_settings(cfg: dict, run: str) -> dict:
    """One run's spec from plan_runs (not the sweeps that name it), and the backdoor phase."""
    bd = cfg["backdoor"]
    spec = {k: v for k, v in runs(cfg)[run].items() if k != "study"}
    l1, l2 = lambdas(cfg, spec["arch"])
    return {"seed": cfg["seed"], "device": cfg["device"], "run": spec, "target_class": bd["target_class"],
            "lambda1": l1, "lambda2": l2, "classifier": _classifier(cfg, "backdoor")}


def lic_qualities(cfg: dict, model: str) -> list:
    return cfg["backdoor"]["lic"]["qualities"] or learned(cfg)[model]["qualities"]


def lic_points(cfg: dict) -> list[tuple[str, int]]:
    return [(m, q) for m in cfg["backdoor"]["lic"]["models"] for q in lic_qualities(cfg, m)]


def lic_settings(cfg: dict, model: str, keys, lira: bool = False) -> dict:
    """backdoor-lic-train reads the training keys of backdoor.lic, backdoor-lic-eval the evaluation ones;
    the LIRA baseline's training (`lira`) the same with lic.lira.trigger over lic.trigger."""
    lic = cfg["backdoor"]["lic"]
    out = {"seed": cfg["seed"], "codec": codec_settings(cfg, model), "lic": {k: lic[k] for k in keys if k in lic}}
    if lira and "trigger" in keys:
        out["lic"]["trigger"] = {**lic["trigger"], **lic["lira"]["trigger"]}
    return out


def lic_lira_points(cfg: dict) -> list[tuple[str, int]]:
    """(model, quality) of every LIRA-baseline encoder; none without lic.lira."""
    lira = cfg["backdoor"]["lic"].get("lira")
    if not lira:
        return []
    return [(m, q) for m in cfg["backdoor"]["lic"]["models"] for q in lira["qualities"] or lic_qualities(cfg, m)]


def lic_tables(cfg: dict, kind: str) -> list[str]:
    """The evaluation rows `kind` of every main encoder; `lira_<kind>` those of the LIRA baseline's."""
    if kind.startswith("lira_"):
        return [f"{out_dir(cfg)}/lic/{m}/q{q}_{kind}.csv" for m, q in lic_lira_points(cfg)]
    return [f"{out_dir(cfg)}/lic/{m}/q{q}_{kind}.csv" for m, q in lic_points(cfg)]


def lic_example(cfg: dict) -> str:
    """The example of Fig. 6: the first LIC model at its middle quality."""
    m = cfg["backdoor"]["lic"]["models"][0]
    qs = lic_qualities(cfg, m)
    return f"{out_dir(cfg)}/lic/{m}/q{qs[len(qs) // 2]}_example"


def lic_seg_points(cfg: dict) -> list[tuple[str, int]]:
    """(model, quality) of every segmentation-backdoored encoder (Table 1 stand-in); none without lic.seg."""
    seg = cfg["backdoor"]["lic"].get("seg")
    if not seg:
        return []
    return [(m, q) for m in cfg["backdoor"]["lic"]["models"] for q in seg["qualities"] or lic_qualities(cfg, m)]


# The lic keys the segmentation encoder's training shares with the main one (its own: steps, objective).
LIC_SEG_TRAIN_KEYS = ["batch_size", "patch", "lr", "trigger_lr", "gamma", "proxy", "curriculum", "trigger"]


def lic_seg_settings(cfg: dict, model: str, phase: str, lira: bool = False) -> dict:
    """backdoor-lic-train's settings for the segmentation encoder ("train": lic's shared keys, seg's
    steps and objective as the one ds objective, its target class; `lira`: with lic.lira.trigger, the
    baseline's Table 1 row) or backdoor-lic-seg-eval's ("test")."""
    lic, seg = cfg["backdoor"]["lic"], cfg["backdoor"]["lic"]["seg"]
    task = {k: seg[k] for k in ["source", "target", "grid", f"{phase}_mosaics"]}
    out = {"seed": cfg["seed"], "codec": codec_settings(cfg, model), "seg": task}
    if phase == "train":
        trigger = {**lic["trigger"], **(lic["lira"]["trigger"] if lira else {})}
        out["lic"] = {**{k: lic[k] for k in LIC_SEG_TRAIN_KEYS if k in lic}, "trigger": trigger,
                      "steps": seg["steps"], "objectives": {"ds": seg["objective"]}, "ds_target": seg["target"]}
    return out


def lic_seg_lira_points(cfg: dict) -> list[tuple[str, int]]:
    """The segmentation encoders the LIRA baseline also trains (Table 1's LIRA row): with lic.lira only."""
    return lic_seg_points(cfg) if cfg["backdoor"]["lic"].get("lira") else []


# -- tables and figures: the registries (backdoor.tables, backdoor.figures) for this config -------------


def _read(cfg: dict, source: str) -> list[str]:
    """The files of one source a registered table or figure reads (backdoor.figures names them)."""
    kind, _, name = source.partition(":")
    if kind == "runs":
        return run_tables(cfg, name)
    if source == "fc-main":
        return [f"{ckpt_out(cfg)}/runs/fc-{cfg['backdoor']['studies']['triggers'][0]}.csv"]
    if source == "lic:example":
        return [lic_example(cfg)]
    if source == "lic:seg":
        return [f"{out_dir(cfg)}/lic/{m}/q{q}_seg.csv" for m, q in lic_seg_points(cfg)]
    if source == "lic:lira_seg":
        return [f"{out_dir(cfg)}/lic/{m}/q{q}_seg_lira.csv" for m, q in lic_seg_lira_points(cfg)]
    return lic_tables(cfg, name)


def entry_inputs(cfg: dict, entry, _=None) -> dict[str, list[str]]:
    """Role -> files of a registered table or figure (entry.reads: role -> its sources, in order)."""
    return {role: [f for source in sources for f in _read(cfg, source)] for role, sources in entry.reads.items()}


def entry_settings(cfg: dict, entry, _=None) -> dict | None:
    """The settings slice a table or figure reads (entry.settings); None: it reads none. The classifier
    tables read the main trigger (the first of studies.triggers) and the test codecs."""
    bd = cfg["backdoor"]
    values = {"seed": cfg["seed"], "studies": {"triggers": bd["studies"]["triggers"][:1]},
              "test_codecs": bd["test_codecs"]}
    return {k: values[k] for k in entry.settings} if entry.settings else None


def _planned(cfg: dict, entry) -> bool:
    """An entry is planned when each of its roles has files to read, and a comparison with the LIRA
    baseline (a `lic:lira_*` source) only when the config has the baseline."""
    lira = [s for sources in entry.reads.values() for s in sources if s.startswith("lic:lira_")]
    return all(entry_inputs(cfg, entry).values()) and all(_read(cfg, s) for s in lira)


def table_plan(cfg: dict) -> dict:
    """Name under tables/backdoor_ (without .csv/.md) -> (registered table, None): those with rows to read."""
    return TABLES.plan([], keep=lambda e: _planned(cfg, e))


def figure_plan(cfg: dict) -> dict:
    """File name under figures/backdoor_ -> (registered figure, None): those with rows to read."""
    return FIGURES.plan([], keep=lambda e: all(entry_inputs(cfg, e).values()))


def targets(cfg: dict) -> list[str]:
    """The classifier backdoor's tables (CSV, then Markdown) and figures, then the LIC backdoor's
    tables (CSV) and figures."""
    t, f = f"{results(cfg)}/tables/backdoor_", f"{results(cfg)}/figures/backdoor_"
    tables, figures = table_plan(cfg), figure_plan(cfg)
    out = []
    for group, exts in [(CLASSIFIER, ("csv", "md")), (LIC, ("csv",))]:
        stems = [s for s, (e, _) in tables.items() if e.group == group]
        out += [f"{t}{s}.{ext}" for ext in exts for s in stems]
        out += [f"{f}{name}" for name, (e, _) in figures.items() if e.group == group]
    return out


def jobs(cfg: dict) -> dict:
    """This study's jobs with their settings (None: the rule passes none)."""
    planned = runs(cfg)
    out = fetch_jobs(cfg, [*([] if dataset(cfg) == "photos" else [dataset(cfg)]),
                           *(["train", "eval"] if lic_points(cfg) else [])])
    if dataset(cfg) == "photos":
        out[job_key("backdoor_photos")] = photos_settings(cfg)
    out |= {job_key("backdoor_clean_classifier", bd_clean=s): clean_settings(cfg, s) for s in clean_stems(cfg)}
    out |= {job_key("backdoor_trigger", trigger=s): trigger_settings(cfg, s) for s in trigger_stems(cfg)}
    out |= {job_key("backdoor_train", run=r): train_settings(cfg, r) for r in planned}
    for m, q in lic_points(cfg):
        out[job_key("backdoor_lic_train", model=m, quality=q)] = lic_settings(cfg, m, LIC_TRAIN_KEYS)
        out[job_key("backdoor_lic_eval", model=m, quality=q)] = lic_settings(cfg, m, LIC_EVAL_KEYS)
    for m, q in lic_lira_points(cfg):
        out[job_key("backdoor_lic_lira_train", model=m, quality=q)] = lic_settings(cfg, m, LIC_TRAIN_KEYS, lira=True)
        out[job_key("backdoor_lic_lira_eval", model=m, quality=q)] = lic_settings(cfg, m, LIC_EVAL_KEYS)
    for m, q in lic_seg_points(cfg):
        out[job_key("backdoor_lic_seg_train", model=m, quality=q)] = lic_seg_settings(cfg, m, "train")
        out[job_key("backdoor_lic_seg_eval", model=m, quality=q)] = lic_seg_settings(cfg, m, "test")
    for m, q in lic_seg_lira_points(cfg):
        out[job_key("backdoor_lic_seg_lira_train", model=m, quality=q)] = lic_seg_settings(cfg, m, "train", lira=True)
        out[job_key("backdoor_lic_seg_lira_eval", model=m, quality=q)] = lic_seg_settings(cfg, m, "test")
    out |= {job_key("backdoor_table", backdoor_table=k): entry_settings(cfg, *e) for k, e in table_plan(cfg).items()}
    out |= {job_key("backdoor_figure", backdoor_figure=k): entry_settings(cfg, *e) for k, e in figure_plan(cfg).items()}
    return out
