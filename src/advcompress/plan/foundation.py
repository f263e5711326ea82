"""The foundation's plan: datasets, codec training, clean compression and the clean RD tables."""

from __future__ import annotations

from advcompress.plan.core import (
    all_codec_points,
    checkpoint,
    ckpt_quality,
    codec_settings,
    data_dir,
    job_key,
    learned,
    official_weights,
    results,
    seed_only,
)


def dataset_settings(cfg: dict, dataset: str) -> dict:
    return cfg["data"][dataset] | {"seed": cfg["seed"], "cache": f"{data_dir(cfg)}/downloads"}


def fetch_jobs(cfg: dict, datasets) -> dict:
    """The fetch_dataset jobs of the datasets a study reads (`data` keys)."""
    return {job_key("fetch_dataset", dataset=d): dataset_settings(cfg, d) for d in datasets}


def train_qualities(cfg: dict, model: str, quality) -> list[int]:
    """A variable-rate model (quality `vr`) learns every configured quality; a fixed-rate one its own."""
    if quality == "vr":
        return learned(cfg)[model]["qualities"]
    return [int(quality)]


def warm_start(cfg: dict, model: str, quality) -> str | None:
    """Later qualities of a fixed-rate model start from the previous quality's checkpoint."""
    qs = learned(cfg)[model]["qualities"]
    if quality == "vr" or not cfg["train"]["warm_start"]:
        return None
    i = qs.index(int(quality))
    return None if i == 0 else checkpoint(cfg, model, qs[i - 1])


def train_settings(cfg: dict, model: str, quality) -> dict:
    t, codec = cfg["train"], learned(cfg)[model]
    if warm_start(cfg, model, quality) is None:
        steps = codec.get("steps", t["steps"])
    else:
        steps = codec.get("warm_start_steps", t["warm_start_steps"])
    if quality == "vr":
        steps = int(steps * t["variable_rate_factor"])
    return {
        "qualities": train_qualities(cfg, model, quality),
        "widths": codec.get("widths"),
        "steps": steps,
        "batch_size": t["batch_size"],
        "patch": t["patch"],
        "lr": codec.get("lr", t["lr"]),
        "aux_lr": t["aux_lr"],
        "variable_rate_top_first": t.get("variable_rate_top_first", 0.0) if quality == "vr" else 0.0,
        "seed": cfg["seed"],
        "device": cfg["device"],
    }


def clean_tables(cfg: dict) -> list[str]:
    """The clean coding rows of every configured codec and quality (compress_clean)."""
    return [f"{results(cfg)}/clean/{m}/q{q}.csv" for m, q in all_codec_points(cfg)]


def targets(cfg: dict) -> list[str]:
    tables = results(cfg) + "/tables"
    return [f"{tables}/rd_clean.csv", f"{tables}/rd_clean.md", f"{tables}/rd_bd.csv", f"{tables}/rd_bd.md",
            f"{results(cfg)}/figures/rd_clean.pdf"]


def jobs(cfg: dict) -> dict:
    """Every foundation job with its settings (None: the rule passes none)."""
    out = fetch_jobs(cfg, ["eval"])
    for m, q in dict.fromkeys((m, ckpt_quality(m, q)) for m, q in all_codec_points(cfg) if m in learned(cfg)):
        spec = learned(cfg)[m]
        if spec["weights"] == "trained":
            out |= fetch_jobs(cfg, ["train"])
            out[job_key("train_lic", model=m, quality=q)] = train_settings(cfg, m, q)
        elif checkpoint(cfg, m, q) == official_weights(cfg, m, q):
            out[job_key("fetch_weights", model=m, quality=q)] = None
    for m, q in all_codec_points(cfg):
        out[job_key("compress_clean", model=m, quality=q)] = codec_settings(cfg, m)
    out |= {job_key("rd_table"): None, job_key("rd_bd"): seed_only(cfg), job_key("rd_figure"): None}
    return out
