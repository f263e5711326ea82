# Shared lookups for every stage: paths, settings as JSON, wildcard constraints. No science here.
import json
import os
import shlex
import sys

from advcompress.codecs.catalog import is_variable_rate  # torch-free: planning never imports the codecs


TIER = config["tier"]
OUT = config["results"]
DATA = config["data_dir"]
# Everything expensive to rebuild lives in one folder per tier: every output of every training job
# (codec, AT codec, classifier, trigger and backdoor checkpoints, with the json or table each job
# writes beside its checkpoint). scripts/dvc-track.sh versions it whole with the tier's {DATA}, so
# a restored clone has no training job left to run. Work downstream of it stays outside.
CKPT = f"{OUT}/checkpoints"
LEARNED = config["codecs"]["learned"]
CLASSIC = config["codecs"]["classic"]
ALL = []  # every study's final tables and figures: the default target
STUDIES = {}  # study -> its final tables and figures; each study is a target of its own (Snakefile)


def study_targets(study, files):
    """Register a study's final outputs: part of `all`, and of the one-study target `study`."""
    STUDIES.setdefault(study, []).extend(files)
    ALL.extend(files)


# Jobs call the library's CLI `advcompress` of the interpreter that runs Snakemake (the project's
# virtualenv), found first on PATH; on a cluster each job re-reads this file and does the same.
def _interpreter_first_on_path(environ):
    environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ["PATH"]])


_interpreter_first_on_path(os.environ)
CONDA_ENV = "../../envs/advcompress.yaml"


def as_json(obj):
    """Settings travel to the CLI as one quoted JSON string; sorted so params compare stably."""
    return json.dumps(obj, sort_keys=True)


def logfile(rule_name, pattern=""):
    return f"logs/{TIER}/{rule_name}/{pattern or 'all'}.log"


def benchfile(rule_name, pattern=""):
    return f"benchmarks/{TIER}/{rule_name}/{pattern or 'all'}.tsv"


def codec_qualities(model):
    return LEARNED[model]["qualities"] if model in LEARNED else CLASSIC[model]


def checkpoint(model, quality):
    """Where the weights of (model, quality) live: trained here, or official (fetched or placed).

    Official files default to {DATA}/weights/<model>/q<quality>.pth.tar, made by fetch_weights
    (a download, or an error saying where to get the file); `checkpoints: {quality: path}` points
    at files elsewhere, which must then exist.
    """
    spec = LEARNED[model]
    q = "vr" if is_variable_rate(model) else quality
    if spec["weights"] == "trained":
        return f"{CKPT}/codecs/{model}/q{q}.pt"
    given = spec.get("checkpoints", {})
    path = given.get(str(q)) or given.get(q)
    if path is None:
        return f"{DATA}/weights/{model}/q{q}.pth.tar"
    if not Path(path).exists():
        raise FileNotFoundError(
            f"official checkpoint {path} for {model} q{q} is missing; get it from "
            f"{_source(model)} (see docs/codecs/) and place it there"
        )
    return path


def _source(model):
    from advcompress.codecs.learned import architecture  # an error path only: imports the codecs

    return architecture(model).source


def codec_settings(model):
    """What a job needs to rebuild a codec (never the checkpoint path: that is an input)."""
    if model in CLASSIC:
        return {}
    spec = LEARNED[model]
    return {"weights": spec["weights"], "widths": spec.get("widths"), "device": config["device"]}


def checkpoint_input(wildcards):
    if wildcards.model in CLASSIC:
        return []
    return checkpoint(wildcards.model, wildcards.quality)


def codec_ckpt_arg(name, quality, path):
    """The one way a job names a codec's weights: `--codec-ckpt NAME@QUALITY=PATH`, quoted."""
    return f"--codec-ckpt {shlex.quote(f'{name}@{quality}={path}')}"


def checkpoint_arg(wildcards, input):
    return codec_ckpt_arg(wildcards.model, wildcards.quality, input.ckpt) if wildcards.model in LEARNED else ""


def all_codec_points():
    """(model, quality) for every configured codec and quality."""
    return [(m, q) for m in [*LEARNED, *CLASSIC] for q in codec_qualities(m)]


# -- training (models.smk) --


def train_qualities(wildcards):
    """A variable-rate model learns every configured quality; a fixed-rate one just its own."""
    if wildcards.quality == "vr":
        return LEARNED[wildcards.model]["qualities"]
    return [int(wildcards.quality)]


def warm_start(wildcards):
    """Later qualities of a fixed-rate model start from the previous quality's checkpoint."""
    qs = LEARNED[wildcards.model]["qualities"]
    if wildcards.quality == "vr" or not config["train"]["warm_start"]:
        return None
    i = qs.index(int(wildcards.quality))
    return None if i == 0 else checkpoint(wildcards.model, qs[i - 1])


def train_settings(wildcards):
    t, codec = config["train"], LEARNED[wildcards.model]
    if warm_start(wildcards) is None:
        steps = codec.get("steps", t["steps"])
    else:
        steps = codec.get("warm_start_steps", t["warm_start_steps"])
    if wildcards.quality == "vr":
        steps = int(steps * t["variable_rate_factor"])
    return {
        "qualities": train_qualities(wildcards),
        "widths": codec.get("widths"),
        "steps": steps,
        "batch_size": t["batch_size"],
        "patch": t["patch"],
        "lr": codec.get("lr", t["lr"]),
        "aux_lr": t["aux_lr"],
        "variable_rate_top_first": t.get("variable_rate_top_first", 0.0) if wildcards.quality == "vr" else 0.0,
        "seed": config["seed"],
        "device": config["device"],
    }


def _alternation(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def derived_codecs_pattern(names):
    """Regex of `names` and of the codecs derived from them: `<name>@<tag>` (the same architecture
    with other weights, e.g. adversarially fine-tuned) and `<codec>+<wrapper>` (e.g. `+online`),
    as advcompress.codecs.registry resolves them."""
    return f"(?:{_alternation(names)})(?:@[A-Za-z0-9_-]+)?(?:\\+[A-Za-z0-9_-]+)*"


wildcard_constraints:
    model=_alternation([*LEARNED, *CLASSIC]),
    quality=r"\d+|vr",
    dataset=_alternation(config["data"]),
