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


def attack_checkpoints(wildcards):
    t = attack_target(wildcards.model)
    return [t["checkpoints"][q] for q in t["qualities"]]


def attack_settings(wildcards):
    t = attack_target(wildcards.model)
    keys = ["epsilon", "steps", "lr", "lr_final", "max_warmup_steps", "proxy", "tau", "chunk",
            "images", "crop", "thresholds", "latent_directions", "directions"]
    return {**{k: ATK[k] for k in keys}, "qualities": t["qualities"], "codec": t["settings"],
            "gallery_image": ATK["gallery"]["image"], "seed": config["seed"]}


def attack_out(attack, model, name):
    return f"{OUT}/attack/{attack}/{model}/{name}"


def attack_rows(attack):
    return [attack_out(attack, m, "rows.csv") for m in ATTACK_MODELS]


def attack_files(attack, name):
    return [attack_out(attack, m, name) for m in ATTACK_MODELS]


def _attacks_read(figure):
    """The attacks whose results a figure reads besides its own (transfer: SRDA; masks: both)."""
    return {Path(r).parts[0] for r in figure.reads.values()} - {"{attack}"}


# File stem under figures/attack/ -> (registered figure, attack or None): one figure of each kind
# per configured attack; one drawn once only when the config runs the attacks it reads.
ATTACK_FIGURE_PLAN = ATTACK_FIGURES.plan(ATTACK_NAMES, keep=lambda f: _attacks_read(f) <= set(ATTACK_NAMES))


def attack_figure_inputs(figure, attack):
    """Role -> the file "<attack>/<name>" (figure.reads) of every attacked model."""
    return {role: attack_files(*Path(r.format(attack=attack)).parts) for role, r in figure.reads.items()}


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
