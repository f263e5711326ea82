# Lookups of the defense stage (defense.smk includes this first; the Snakefile's second include
# of it is ignored). No rules here, no science: codec names, paths and settings from config.
from snakemake.utils import validate

from advcompress.defense_figures import FIGURES as DEFENSE_FIGURES  # torch-free: names and inputs only


validate(config["defense"], workflow.source_path("../schemas/defense.schema.yaml"))

DEF = config["defense"]
DEFENSE_MODELS = DEF["models"] if DEF["models"] is not None else list(LEARNED)
AT_SAMPLES = list(DEF["at"]["samples"])  # Table III: one fine-tuned codec per kind of AT samples
AT_MAIN = DEF["at"]["main"]  # the AT codec of Figs. 13-15 and 17
DEFENSE_ATTACKS = DEF["attacks"]  # Fig. 13 (srda), Fig. 14 (arda)
if AT_MAIN not in AT_SAMPLES:
    raise ValueError(f"defense.at.main is {AT_MAIN!r}, which is not a key of defense.at.samples {AT_SAMPLES}")
for _m in DEFENSE_MODELS:
    if _m not in LEARNED:
        raise ValueError(f"defense.models lists {_m!r}, which is not in codecs.learned")


def at_codec(model, samples=AT_MAIN):
    return f"{model}@at-{samples}"


def online_codec(codec):
    return f"{codec}+online"


def at_checkpoint(model, samples, quality):
    q = "vr" if is_variable_rate(model) else quality
    return f"{CKPT}/codecs/{at_codec(model, samples)}/q{q}.pt"


def defense_labels():
    """Codec name -> its base model and defense label, for every codec the figures read."""
    labels = {}
    for m in DEFENSE_MODELS:
        labels[m] = {"model": m, "defense": "none"}
        for s in AT_SAMPLES:
            labels[at_codec(m, s)] = {"model": m, "defense": "AT" if s == AT_MAIN else f"AT-{s}"}
        labels[online_codec(m)] = {"model": m, "defense": "online"}
        labels[online_codec(at_codec(m))] = {"model": m, "defense": "AT + online"}
    return labels


def _at_settings(model):
    """How a job rebuilds a fine-tuned codec: as its base (same weights mode: an AT checkpoint of a
    pretrained CompressAI model keeps the layout `from_state_dict` reads), with the AT checkpoint."""
    return codec_settings(model)


def _register_defended_codecs():
    online = {"online": DEF["online"]}
    for m in DEFENSE_MODELS:
        qs = LEARNED[m]["qualities"]
        for s in AT_SAMPLES:
            ATTACK_TARGETS[at_codec(m, s)] = {
                "qualities": qs,
                "checkpoints": {q: at_checkpoint(m, s, q) for q in qs},
                "settings": _at_settings(m),
            }
        ATTACK_TARGETS[online_codec(m)] = {
            "qualities": qs,
            "checkpoints": {q: checkpoint(m, q) for q in qs},
            "settings": codec_settings(m) | online,
        }
        ATTACK_TARGETS[online_codec(at_codec(m))] = {
            "qualities": qs,
            "checkpoints": {q: at_checkpoint(m, AT_MAIN, q) for q in qs},
            "settings": _at_settings(m) | online,
        }


_register_defended_codecs()


def defense_rows(attack, defenses):
    """The attack study's rows for every defense model under `attack`, for the labels in `defenses`."""
    labels = defense_labels()
    return [attack_out(attack, c, "rows.csv") for c, lab in labels.items() if lab["defense"] in defenses]


def at_train_settings(wildcards):
    at = DEF["at"]
    keys = ["steps", "batch_size", "adv_fraction", "lr", "lr_final", "final_fraction", "aux_lr", "clip_norm", "attack"]
    return {
        "qualities": train_qualities(wildcards),
        "patch": at["patch"],
        "at": {k: at[k] for k in keys} | {"samples": at["samples"][wildcards.defense]},
        "codec": codec_settings(wildcards.model),
        "seed": config["seed"],
    }


def table3_samples():
    """Defense label of each AT variant -> its kind of samples (Table III's column groups)."""
    labels = defense_labels()
    return {labels[at_codec(DEFENSE_MODELS[0], s)]["defense"]: s for s in AT_SAMPLES}


def defense_clean_rows(defenses):
    """Clean coding rows (whole evaluation set) of every defense model with each label in `defenses`:
    the foundation's for "none" (compress_clean), defense_clean's for an AT codec."""
    labels = defense_labels()
    return [
        f"{OUT}/clean/{c}/q{q}.csv" if d == "none" else f"{OUT}/defense/clean/{c}/q{q}.csv"
        for d in defenses
        for c, lab in labels.items()
        if lab["defense"] == d
        for q in LEARNED[lab["model"]]["qualities"]
    ]


def clean_rd_inputs():
    """The clean rows of each defense model before and after AT (Fig. 15, the claims)."""
    return defense_clean_rows(["none", "AT"])


# File stem under figures/defense/ -> (registered figure, attack or None), for the configured attacks.
DEFENSE_FIGURE_PLAN = DEFENSE_FIGURES.plan(DEFENSE_ATTACKS)


def defense_figure_inputs(figure, attack):
    """Role -> files (figure.reads): `rows` under the figure's attack, `clean` coding rows."""
    read = {"rows": lambda defenses: defense_rows(attack, defenses), "clean": defense_clean_rows}
    return {role: read[role](defenses) for role, defenses in figure.reads.items()}


def defense_figure_settings(figure, attack):
    """The settings slice a figure reads (figure.settings), from the config."""
    values = {"labels": defense_labels(), "attack": attack, "seed": config["seed"]}
    return {k: values[k] for k in figure.settings}
