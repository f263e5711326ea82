"""The defense study's plan: adversarially trained (AT) and online-updated codecs, Table III, Figs. 13-17.

A defended codec is a codec name, `<model>@at-<samples>`, `<model>+online` or
`<model>@at-<samples>+online`; `attack_targets` says how to build each, and the attack study's
attack_run job attacks it like any other codec.
"""

from __future__ import annotations

from advcompress.defense.figures import FIGURES  # torch-free: names and inputs only
from advcompress.plan.core import (
    attack_out,
    checkpoint,
    ckpt_dir,
    ckpt_quality,
    codec_settings,
    job_key,
    learned,
    results,
)
from advcompress.plan.foundation import fetch_jobs, train_qualities

AT_TRAIN_KEYS = ["steps", "batch_size", "adv_fraction", "lr", "lr_final", "final_fraction", "aux_lr", "clip_norm",
                 "attack"]


def models(cfg: dict) -> list[str]:
    d = cfg["defense"]
    return d["models"] if d["models"] is not None else list(learned(cfg))


def at_samples(cfg: dict) -> list[str]:
    """Table III: one fine-tuned codec per kind of AT samples."""
    return list(cfg["defense"]["at"]["samples"])


def at_main(cfg: dict) -> str:
    """The AT codec of Figs. 13-15 and 17."""
    return cfg["defense"]["at"]["main"]


def check(cfg: dict) -> None:
    if at_main(cfg) not in at_samples(cfg):
        raise ValueError(f"defense.at.main is {at_main(cfg)!r}, which is not a key of defense.at.samples "
                         f"{at_samples(cfg)}")
    for m in models(cfg):
        if m not in learned(cfg):
            raise ValueError(f"defense.models lists {m!r}, which is not in codecs.learned")


def at_codec(model: str, samples: str) -> str:
    return f"{model}@at-{samples}"


def online_codec(codec: str) -> str:
    return f"{codec}+online"


def at_checkpoint(cfg: dict, model: str, samples: str, quality) -> str:
    return f"{ckpt_dir(cfg)}/codecs/{at_codec(model, samples)}/q{ckpt_quality(model, quality)}.pt"


def labels(cfg: dict) -> dict[str, dict]:
    """Codec name -> its base model and defense label, for every codec the figures read."""
    out, main = {}, at_main(cfg)
    for m in models(cfg):
        out[m] = {"model": m, "defense": "none"}
        for s in at_samples(cfg):
            out[at_codec(m, s)] = {"model": m, "defense": "AT" if s == main else f"AT-{s}"}
        out[online_codec(m)] = {"model": m, "defense": "online"}
        out[online_codec(at_codec(m, main))] = {"model": m, "defense": "AT + online"}
    return out


def at_settings(cfg: dict, model: str) -> dict:
    """How a job rebuilds a fine-tuned codec: as its base (same weights mode: an AT checkpoint of a
    pretrained CompressAI model keeps the layout `from_state_dict` reads), with the AT checkpoint."""
    return codec_settings(cfg, model)


def attack_targets(cfg: dict) -> dict[str, dict]:
    """The codecs this study adds to the attack study's: name -> {"qualities", "checkpoints":
    {quality: path}, "settings"}, as `plan.attack.victim` gives them for learned codecs."""
    online, main, out = {"online": cfg["defense"]["online"]}, at_main(cfg), {}
    for m in models(cfg):
        qs = learned(cfg)[m]["qualities"]
        for s in at_samples(cfg):
            out[at_codec(m, s)] = {"qualities": qs, "checkpoints": {q: at_checkpoint(cfg, m, s, q) for q in qs},
                                   "settings": at_settings(cfg, m)}
        out[online_codec(m)] = {"qualities": qs, "checkpoints": {q: checkpoint(cfg, m, q) for q in qs},
                                "settings": codec_settings(cfg, m) | online}
        out[online_codec(at_codec(m, main))] = {
            "qualities": qs, "checkpoints": {q: at_checkpoint(cfg, m, main, q) for q in qs},
            "settings": at_settings(cfg, m) | online}
    return out


def attack_runs(cfg: dict, attack: str, defenses) -> list[tuple[str, str]]:
    """(attack, codec) of every defense model's codec with a label in `defenses`."""
    return [(attack, c) for c, lab in labels(cfg).items() if lab["defense"] in defenses]


def rows(cfg: dict, attack: str, defenses) -> list[str]:
    """The attack study's rows for every defense model under `attack`, for the labels in `defenses`."""
    return [attack_out(cfg, a, c, "rows.csv") for a, c in attack_runs(cfg, attack, defenses)]


def all_labels(cfg: dict) -> list[str]:
    return sorted({lab["defense"] for lab in labels(cfg).values()})


def at_train_settings(cfg: dict, model: str, samples: str, quality) -> dict:
    at = cfg["defense"]["at"]
    return {
        "qualities": train_qualities(cfg, model, quality),
        "patch": at["patch"],
        "at": {k: at[k] for k in AT_TRAIN_KEYS} | {"samples": at["samples"][samples]},
        "codec": codec_settings(cfg, model),
        "seed": cfg["seed"],
    }


def table3_samples(cfg: dict) -> dict[str, str]:
    """Defense label of each AT variant -> its kind of samples (Table III's column groups)."""
    lab = labels(cfg)
    return {lab[at_codec(models(cfg)[0], s)]["defense"]: s for s in at_samples(cfg)}


def table3_defenses(cfg: dict) -> list[str]:
    return ["none", *table3_samples(cfg), "online", "AT + online"]


def table3_inputs(cfg: dict) -> list[str]:
    return rows(cfg, "srda", table3_defenses(cfg))


def table3_settings(cfg: dict) -> dict:
    return {"labels": labels(cfg), "samples": table3_samples(cfg), "seed": cfg["seed"]}


def clean_out(cfg: dict, model: str, samples: str, quality) -> str:
    return f"{results(cfg)}/defense/clean/{at_codec(model, samples)}/q{quality}.csv"


def clean_rows(cfg: dict, defenses) -> list[str]:
    """Clean coding rows (whole evaluation set) of every defense model with each label in `defenses`:
    the foundation's for "none" (compress_clean), defense_clean's for an AT codec."""
    lab = labels(cfg)
    return [
        f"{results(cfg)}/clean/{c}/q{q}.csv" if d == "none" else f"{results(cfg)}/defense/clean/{c}/q{q}.csv"
        for d in defenses
        for c, label in lab.items()
        if label["defense"] == d
        for q in learned(cfg)[label["model"]]["qualities"]
    ]


def clean_rd_inputs(cfg: dict) -> list[str]:
    """The clean rows of each defense model before and after AT (Fig. 15, the claims)."""
    return clean_rows(cfg, ["none", "AT"])


def figure_plan(cfg: dict) -> dict:
    """File stem under figures/defense/ -> (registered figure, attack or None), for the configured attacks."""
    return FIGURES.plan(cfg["defense"]["attacks"])


def figure_inputs(cfg: dict, figure, attack) -> dict[str, list[str]]:
    """Role -> files (figure.reads): `rows` under the figure's attack, `clean` coding rows."""
    read = {"rows": lambda defenses: rows(cfg, attack, defenses), "clean": lambda d: clean_rows(cfg, d)}
    return {role: read[role](defenses) for role, defenses in figure.reads.items()}


def figure_settings(cfg: dict, figure, attack) -> dict:
    """The settings slice a figure reads (figure.settings), from the config."""
    values = {"labels": labels(cfg), "attack": attack, "seed": cfg["seed"]}
    return {k: values[k] for k in figure.settings}


def figure_files(cfg: dict) -> list[str]:
    return [f"{results(cfg)}/figures/defense/{stem}.pdf" for stem in figure_plan(cfg)]


def attacked(cfg: dict) -> list[tuple[str, str]]:
    """(attack, codec) of every attack run this study reads: Table III's, the figures', and the
    claims' (every label under SRDA)."""
    runs = attack_runs(cfg, "srda", [*table3_defenses(cfg), *all_labels(cfg)])
    for fig, attack in figure_plan(cfg).values():
        if "rows" in fig.reads:
            runs += attack_runs(cfg, attack, fig.reads["rows"])
    return list(dict.fromkeys(runs))


def targets(cfg: dict) -> list[str]:
    tables = f"{results(cfg)}/tables/defense"
    return [f"{tables}/table3.csv", f"{tables}/table3.md", *figure_files(cfg)]


def jobs(cfg: dict) -> dict:
    """This study's jobs with their settings; the attack study plans the attack runs (`attacked`)."""
    out, main = fetch_jobs(cfg, ["train", "eval"]), at_main(cfg)
    at = {at_codec(m, s): (m, s) for m in models(cfg) for s in at_samples(cfg)}
    trained = {at[c.removesuffix("+online")] for _, c in attacked(cfg) if c.removesuffix("+online") in at}
    trained |= {(m, main) for m in models(cfg)}  # clean_rd_inputs: Fig. 15 and the claims
    for m, s in trained:
        for q in dict.fromkeys(ckpt_quality(m, q) for q in learned(cfg)[m]["qualities"]):
            out[job_key("defense_train_at", model=m, samples=s, quality=q)] = at_train_settings(cfg, m, s, q)
    for m in models(cfg):
        for q in learned(cfg)[m]["qualities"]:
            out[job_key("defense_clean", model=m, samples=main, quality=q)] = at_settings(cfg, m)
    out[job_key("defense_table3")] = table3_settings(cfg)
    for stem, (fig, attack) in figure_plan(cfg).items():
        out[job_key("defense_figure", defense_figure=stem)] = figure_settings(cfg, fig, attack)
    return out
