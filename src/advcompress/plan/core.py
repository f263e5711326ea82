"""What every study's plan shares: where outputs live, which checkpoint a codec reads, how a job
rebuilds a codec, and the regexes wildcards are constrained with.

Every function takes the resolved config (`advcompress.config.load_tier`, or Snakemake's `config`)
and returns plain data; nothing here imports torch, CompressAI or Snakemake.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from advcompress.codecs.catalog import is_variable_rate

# A job's key in `jobs(cfg)`: its rule and its wildcards as `snakemake -n` prints them
# ("model=mbt2018, quality=4"; "" for a rule without wildcards).
JobKey = tuple[str, str]


def job_key(rule: str, **wildcards) -> JobKey:
    return rule, ", ".join(f"{k}={v}" for k, v in wildcards.items())


def results(cfg: dict) -> str:
    return cfg["results"]


def data_dir(cfg: dict) -> str:
    return cfg["data_dir"]


def ckpt_dir(cfg: dict) -> str:
    """Everything expensive to rebuild: every output of every training job, in one folder per tier,
    which scripts/dvc-track.sh versions whole with the tier's data."""
    return f"{cfg['results']}/checkpoints"


def learned(cfg: dict) -> dict:
    return cfg["codecs"]["learned"]


def classic(cfg: dict) -> dict:
    return cfg["codecs"]["classic"]


def seed_only(cfg: dict) -> dict:
    """The settings of a table or figure job that reads only the intervals' bootstrap seed."""
    return {"seed": cfg["seed"]}


def codec_qualities(cfg: dict, model: str) -> list:
    return learned(cfg)[model]["qualities"] if model in learned(cfg) else classic(cfg)[model]


def all_codec_points(cfg: dict) -> list[tuple[str, int]]:
    """(model, quality) for every configured codec and quality."""
    return [(m, q) for m in [*learned(cfg), *classic(cfg)] for q in codec_qualities(cfg, m)]


def ckpt_quality(model: str, quality) -> str | int:
    """A variable-rate model has one checkpoint for every quality, `qvr`."""
    return "vr" if is_variable_rate(model) else quality


def checkpoint(cfg: dict, model: str, quality) -> str:
    """Where the weights of (model, quality) live: trained here, or official (fetched or placed).

    Official files default to {data}/weights/<model>/q<quality>.pth.tar, made by fetch_weights
    (a download, or an error saying where to get the file); `checkpoints: {quality: path}` points
    at files elsewhere, which must then exist.
    """
    spec, q = learned(cfg)[model], ckpt_quality(model, quality)
    if spec["weights"] == "trained":
        return f"{ckpt_dir(cfg)}/codecs/{model}/q{q}.pt"
    given = spec.get("checkpoints", {})
    path = given.get(str(q)) or given.get(q)
    if path is None:
        return official_weights(cfg, model, q)
    if not Path(path).exists():
        # an error path only: imports the codecs
        from advcompress.codecs.learned import architecture

        raise FileNotFoundError(
            f"official checkpoint {path} for {model} q{q} is missing; get it from "
            f"{architecture(model).source} (see docs/codecs/) and place it there"
        )
    return path


def official_weights(cfg: dict, model: str, quality) -> str:
    """Where fetch_weights puts a codec's official checkpoint."""
    return f"{data_dir(cfg)}/weights/{model}/q{ckpt_quality(model, quality)}.pth.tar"


def codec_settings(cfg: dict, model: str) -> dict:
    """What a job needs to rebuild a codec (never the checkpoint path: that is an input)."""
    if model in classic(cfg):
        return {}
    spec = learned(cfg)[model]
    return {"weights": spec["weights"], "widths": spec.get("widths"), "device": cfg["device"]}


def codec_ckpt_arg(name: str, quality, path: str) -> str:
    """The one way a job names a codec's weights: `--codec-ckpt NAME@QUALITY=PATH`, quoted."""
    return f"--codec-ckpt {shlex.quote(f'{name}@{quality}={path}')}"


def attack_out(cfg: dict, attack: str, codec: str, name: str) -> str:
    """A file of one attack run (or ablation) on one codec: the attack study writes it, the defense
    and claims read it."""
    return f"{results(cfg)}/attack/{attack}/{codec}/{name}"


def alternation(names) -> str:
    """A regex matching exactly `names` (longest first, so no name stops at a prefix of another)."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


def derived_codecs_pattern(names) -> str:
    """Regex of `names` and of the codecs derived from them: `<name>@<tag>` (the same architecture
    with other weights, e.g. adversarially fine-tuned) and `<codec>+<wrapper>` (e.g. `+online`),
    as advcompress.codecs.registry resolves them."""
    return f"(?:{alternation(names)})(?:@[A-Za-z0-9_-]+)?(?:\\+[A-Za-z0-9_-]+)*"
