"""The RD-attack study's plan: one attack_run job per (attack, codec), the tau ablation, Table II
and the registered figures.

A codec the study attacks (a victim) is a learned codec, or one the defense study derives from one
(`plan.defense.attack_targets`): `<model>@at-<samples>`, `<codec>+online`.
"""

from __future__ import annotations

from pathlib import Path

from advcompress.attack.figures import FIGURES  # torch-free: names and inputs only
from advcompress.plan import defense
from advcompress.plan.core import (
    attack_out,
    checkpoint,
    codec_ckpt_arg,
    codec_settings,
    job_key,
    learned,
    results,
    seed_only,
)
from advcompress.plan.foundation import fetch_jobs

ATTACKS = ("srda", "arda", "sra", "sda")  # every attack attack-run knows (the schema's attack.attacks)
# What an attack job reads of the `attack` section, besides the codec's qualities and settings.
JOB_KEYS = ["epsilon", "steps", "lr", "lr_final", "max_warmup_steps", "proxy", "chunk", "images", "crop",
            "thresholds", "directions"]


def models(cfg: dict) -> list[str]:
    """The codecs `attack.models` names (null: every learned codec)."""
    atk = cfg["attack"]
    return atk["models"] if atk["models"] is not None else list(learned(cfg))


def attacks(cfg: dict) -> list[str]:
    return cfg["attack"]["attacks"]


def tau_ablation(cfg: dict) -> dict | None:
    """ARDA's temperature ablation: one job on one codec's submodels (null: none)."""
    return cfg["attack"]["tau_ablation"]


def check(cfg: dict) -> None:
    defense.check(cfg)  # the codecs it derives, which attack.models may name
    derived = defense.attack_targets(cfg)
    for m in models(cfg):
        if m not in learned(cfg) and m not in derived:
            raise ValueError(f"attack.models lists {m!r}, which is neither in codecs.learned nor a codec the "
                             f"defense study derives ({', '.join(derived) or 'none'})")
    tau = tau_ablation(cfg)
    if tau is not None:
        if tau["model"] not in learned(cfg):
            raise ValueError(f"attack.tau_ablation.model is {tau['model']!r}, which is not in codecs.learned")
        if len(learned(cfg)[tau["model"]]["qualities"]) < 2:
            raise ValueError(f"attack.tau_ablation.model {tau['model']!r} has one quality in codecs.learned; "
                             "ARDA's weights need at least two submodels")


def victim(cfg: dict, codec: str) -> dict:
    """How a job builds an attacked codec: {"qualities", "checkpoints": {quality: path}, "settings"}."""
    derived = defense.attack_targets(cfg)
    if codec in derived:
        return derived[codec]
    if codec not in learned(cfg):
        raise ValueError(f"{codec!r} is neither in codecs.learned nor a codec the defense study derives")
    qs = learned(cfg)[codec]["qualities"]
    return {"qualities": qs, "checkpoints": {q: checkpoint(cfg, codec, q) for q in qs},
            "settings": codec_settings(cfg, codec)}


def checkpoints(cfg: dict, codec: str) -> list[str]:
    t = victim(cfg, codec)
    return [t["checkpoints"][q] for q in t["qualities"]]


def ckpt_args(cfg: dict, codec: str) -> str:
    """`--codec-ckpt codec@q=path` for each of the codec's attacked qualities."""
    t = victim(cfg, codec)
    return " ".join(codec_ckpt_arg(codec, q, t["checkpoints"][q]) for q in t["qualities"])


def _job_settings(cfg: dict, codec: str, keys) -> dict:
    atk, t = cfg["attack"], victim(cfg, codec)
    return {**{k: atk[k] for k in keys}, "qualities": t["qualities"], "codec": t["settings"],
            "gallery_image": atk["gallery"]["image"], "seed": cfg["seed"]}


def run_settings(cfg: dict, codec: str) -> dict:
    return _job_settings(cfg, codec, [*JOB_KEYS, "tau", "latent_directions", "transfer_source_index"])


def tau_settings(cfg: dict) -> dict:
    """The taus but not attack.tau, so changing the default temperature does not rerun the ablation."""
    tau = tau_ablation(cfg)
    return {**_job_settings(cfg, tau["model"], JOB_KEYS), "taus": tau["taus"]}


def ablations(cfg: dict) -> dict[str, list[str]]:
    """Result folders under attack/ that no attack writes, and the codecs each holds."""
    tau = tau_ablation(cfg)
    return {"tau_ablation": [tau["model"]]} if tau is not None else {}


def rows(cfg: dict, attack: str) -> list[str]:
    return [attack_out(cfg, attack, m, "rows.csv") for m in models(cfg)]


def table2_inputs(cfg: dict) -> list[str]:
    return [r for a in attacks(cfg) for r in rows(cfg, a)]


def _sources_read(figure) -> set[str]:
    """The attacks or ablations whose results a figure reads besides its own attack's (transfer:
    SRDA; masks: both; arda_tau: the tau ablation)."""
    return {Path(r).parts[0] for r in figure.reads.values()} - {"{attack}"}


def figure_plan(cfg: dict) -> dict:
    """File stem under figures/attack/ -> (registered figure, attack or None): one figure of each kind
    per configured attack; one drawn once only when the config runs the attacks or ablations it reads."""
    sources = {*attacks(cfg), *ablations(cfg)}
    return FIGURES.plan(attacks(cfg), keep=lambda f: _sources_read(f) <= sources)


def figure_inputs(cfg: dict, figure, attack) -> dict[str, list[str]]:
    """Role -> the file "<attack or ablation>/<name>" (figure.reads) of every codec it holds."""
    out, held = {}, ablations(cfg)
    for role, r in figure.reads.items():
        source, name = Path(r.format(attack=attack)).parts
        out[role] = [attack_out(cfg, source, m, name) for m in held.get(source, models(cfg))]
    return out


def figure_settings(cfg: dict, figure, attack) -> dict:
    """The settings slice a figure reads (figure.settings), from the config."""
    atk = cfg["attack"]
    g, m = atk["gallery"], atk["mask"]
    values = {
        "attack_label": (attack or "").upper(),
        "directions": list(atk["directions"]),
        "seed": cfg["seed"],
        "gallery_image": g["image"],
        "gallery_direction": g["direction"],
        # Fig. 19 shows one SRDA submodel, Fig. 21 one ARDA submodel; single-dimension attacks SRDA's
        "gallery_quality_index": g["arda_quality_index"] if attack == "arda" else g["srda_quality_index"],
        "transfer_source_index": atk["transfer_source_index"],
        "mask_direction": m["direction"],
        "mask_threshold": m["threshold_mse255"],
    }
    return {k: values[k] for k in figure.settings}


def figure_files(cfg: dict) -> list[str]:
    return [f"{results(cfg)}/figures/attack/{stem}.pdf" for stem in figure_plan(cfg)]


def targets(cfg: dict) -> list[str]:
    tables = f"{results(cfg)}/tables/attack"
    return [f"{tables}/table2.csv", f"{tables}/table2.md", *figure_files(cfg)]


def jobs(cfg: dict) -> dict:
    """This study's jobs with their settings, the attack runs the defense study reads included."""
    runs = [(a, m) for a in attacks(cfg) for m in models(cfg)] + defense.attacked(cfg)
    out = fetch_jobs(cfg, ["eval"])
    out |= {job_key("attack_run", attack=a, victim=c): run_settings(cfg, c) for a, c in runs}
    if tau_ablation(cfg) is not None:
        out[job_key("attack_tau")] = tau_settings(cfg)
    out[job_key("attack_table2")] = seed_only(cfg)
    for stem, (fig, attack) in figure_plan(cfg).items():
        out[job_key("attack_figure", attack_figure=stem)] = figure_settings(cfg, fig, attack)
    return out

