# Lookups of the RD-attack stage (attack.smk includes this first; the Snakefile's second include
# of it is ignored). No rules here, no science: paths, settings and codec sources from config.
from snakemake.utils import validate


validate(config["attack"], workflow.source_path("../schemas/attack.schema.yaml"))

ATK = config["attack"]
ATTACK_MODELS = ATK["models"] if ATK["models"] is not None else list(LEARNED)
ATTACK_NAMES = ATK["attacks"]
ATTACK_DIRECTIONS = list(ATK["directions"])
ATTACK_FIGURES = ["rd", "directions", "submodels", "success", "latents", "gallery_directions", "gallery_submodels"]

# Codecs that are not in codecs.learned (fine-tuned or wrapped models of later stages) register
# here how to build them: ATTACK_TARGETS[name] = {"qualities": [...], "checkpoints": {q: path},
# "settings": {...}} (settings as codec_settings gives). Read lazily, so a later .smk can fill it.
ATTACK_TARGETS = {}


def gallery_quality_index(attack):
    """Fig. 19 shows one SRDA submodel, Fig. 21 one ARDA submodel; single-dimension attacks use SRDA's."""
    g = ATK["gallery"]
    return g["arda_quality_index"] if attack == "arda" else g["srda_quality_index"]


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


def figure_settings(attack, **extra):
    return as_json({"attack_label": attack.upper(), "directions": ATTACK_DIRECTIONS, "seed": config["seed"], **extra})
