# Lookups of the RD-attack stage (attack.smk includes this first; the Snakefile's second include
# of it is ignored). No rules here, no science: paths, settings and codec sources from config.
from snakemake.utils import validate

from advcompress.attack_figures import FIGURES as ATTACK_FIGURES  # torch-free: names and inputs only


validate(config["attack"], workflow.source_path("../schemas/attack.schema.yaml"))

ATK = config["attack"]
ATTACK_MODELS = ATK["models"] if ATK["models"] is not None else list(LEARNED)
ATTACK_NAMES = ATK["attacks"]
ATTACK_DIRECTIONS = list(ATK["directions"])

# Codecs that are not in codecs.learned (fine-tuned or wrapped models of later stages) register
# here how to build them: ATTACK_TARGETS[name] = {"qualities": [...], "checkpoints": {q: path},
# "settings": {...}} (settings as codec_settings gives). Read lazily, so a later .smk can fill it.
ATTACK_TARGETS = {}


def attack_target(model):
    if model in ATTACK_TARGETS:
        return ATTACK_TARGETS[model]
    if model not in LEARNED:
        raise ValueError(f"attack.models lists {model!r}, which is neither in codecs.learned nor in ATTACK_TARGETS")
    qs = LEARNED[model]["qualities"]
    return {"qualities": qs, "checkpoints": {q: checkpoint(model, q) for q in qs}, "settings": codec_settings(model)}


def model_checkpoints(model):
    t = attack_target(model)
    return [t["checkpoints"][q] for q in t["qualities"]]


def attack_checkpoints(wildcards):
    return model_checkpoints(wildcards.model)


def model_ckpt_args(model):
    """`--codec-ckpt model@q=path` for each of the model's attacked qualities."""
    t = attack_target(model)
    return " ".join(codec_ckpt_arg(model, q, t["checkpoints"][q]) for q in t["qualities"])


ATTACK_JOB_KEYS = ["epsilon", "steps", "lr", "lr_final", "max_warmup_steps", "proxy", "chunk", "images",
                   "crop", "thresholds", "directions"]


def attack_job_settings(model, keys):
    t = attack_target(model)
    return {**{k: ATK[k] for k in keys}, "qualities": t["qualities"], "codec": t["settings"],
            "gallery_image": ATK["gallery"]["image"], "seed": config["seed"]}


def attack_settings(wildcards):
    return attack_job_settings(wildcards.model, [*ATTACK_JOB_KEYS, "tau", "latent_directions"])


# ARDA's temperature ablation: one job on one codec's submodels (null: none). Its settings slice
# holds the taus but not attack.tau, so changing the default temperature does not rerun it.
TAU = ATK["tau_ablation"]
if TAU is not None:
    if TAU["model"] not in LEARNED:
        raise ValueError(f"attack.tau_ablation.model is {TAU['model']!r}, which is not in codecs.learned")
    if len(LEARNED[TAU["model"]]["qualities"]) < 2:
        raise ValueError(f"attack.tau_ablation.model {TAU['model']!r} has one quality in codecs.learned; "
                         "ARDA's weights need at least two submodels")


def tau_ablation_settings():
    return {**attack_job_settings(TAU["model"], ATTACK_JOB_KEYS), "taus": TAU["taus"]}


# Result folders under attack/ that no attack writes, and the models each holds.
ABLATIONS = {"tau_ablation": [TAU["model"]]} if TAU is not None else {}


def attack_out(attack, model, name):
    return f"{OUT}/attack/{attack}/{model}/{name}"


def attack_rows(attack):
    return [attack_out(attack, m, "rows.csv") for m in ATTACK_MODELS]


def attack_files(attack, name):
    return [attack_out(attack, m, name) for m in ATTACK_MODELS]


def _sources_read(figure):
    """The attacks or ablations whose results a figure reads besides its own attack's (transfer:
    SRDA; masks: both; arda_tau: the tau ablation)."""
    return {Path(r).parts[0] for r in figure.reads.values()} - {"{attack}"}


# File stem under figures/attack/ -> (registered figure, attack or None): one figure of each kind
# per configured attack; one drawn once only when the config runs the attacks or ablations it reads.
ATTACK_FIGURE_PLAN = ATTACK_FIGURES.plan(ATTACK_NAMES, keep=lambda f: _sources_read(f) <= {*ATTACK_NAMES, *ABLATIONS})


def attack_figure_inputs(figure, attack):
    """Role -> the file "<attack or ablation>/<name>" (figure.reads) of every model it holds."""
    out = {}
    for role, r in figure.reads.items():
        source, name = Path(r.format(attack=attack)).parts
        out[role] = [attack_out(source, m, name) for m in ABLATIONS.get(source, ATTACK_MODELS)]
    return out


def attack_figure_settings(figure, attack):
    """The settings slice a figure reads (figure.settings), from the config."""
    g, m = ATK["gallery"], ATK["mask"]
    values = {
        "attack_label": (attack or "").upper(),
        "directions": ATTACK_DIRECTIONS,
        "seed": config["seed"],
        "gallery_image": g["image"],
        "gallery_direction": g["direction"],
        # Fig. 19 shows one SRDA submodel, Fig. 21 one ARDA submodel; single-dimension attacks SRDA's
        "gallery_quality_index": g["arda_quality_index"] if attack == "arda" else g["srda_quality_index"],
        "transfer_source_index": ATK["transfer_source_index"],
        "mask_direction": m["direction"],
        "mask_threshold": m["threshold_mse255"],
    }
    return {k: values[k] for k in figure.settings}
