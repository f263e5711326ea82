# Snakemake glue for every stage: paths, settings as JSON, logs, the study targets and the one set of
# wildcard constraints. What a config plans (targets, inputs, each job's settings) is
# advcompress.plan: torch-free, and tested without Snakemake (tests/test_plan.py).
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from advcompress import plan
from advcompress.plan.core import alternation, codec_ckpt_arg, derived_codecs_pattern


# Each study's section against its own schema (unknown keys fail here, naming them; defaults filled).
for _section in ("attack", "defense", "classify", "backdoor"):
    validate(config[_section], workflow.source_path(f"../schemas/{_section}.schema.yaml"))

TIER = config["tier"]
OUT = plan.core.results(config)
DATA = plan.core.data_dir(config)
CKPT = plan.core.ckpt_dir(config)
LEARNED = plan.core.learned(config)
STUDIES = plan.targets(config)  # study -> its final tables and figures; each a target of its own (Snakefile)
# The default target, in the order `all` has always listed the studies (the stage files' alphabetical
# order when the Snakefile globbed them), so a dry run reads as it did.
ALL = [f for s in ("attack", "backdoor", "claims", "classify", "foundation", "defense") for f in STUDIES[s]]


# Jobs call the library's CLI `advcompress` of the interpreter that runs Snakemake (the project's
# virtualenv), found first on PATH; on a cluster each job re-reads this file and does the same.
def _interpreter_first_on_path(environ):
    environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ["PATH"]])


_interpreter_first_on_path(os.environ)
CONDA_ENV = "../../envs/advcompress.yaml"


def as_json(obj):
    """Settings travel to the CLI as one quoted JSON string; sorted so params compare stably."""
    return json.dumps(obj, sort_keys=True)


def settings_arg(settings):
    """` --settings '<json>'` for a command line, or nothing for a job that reads no settings (None)."""
    return "" if settings is None else f" --settings {shlex.quote(as_json(settings))}"


def logfile(rule_name, pattern=""):
    return f"logs/{TIER}/{rule_name}/{pattern or 'all'}.log"


def benchfile(rule_name, pattern=""):
    return f"benchmarks/{TIER}/{rule_name}/{pattern or 'all'}.tsv"


def checkpoint_input(wildcards):
    """A configured codec's weights, or none for a classic codec."""
    return plan.core.checkpoint(config, wildcards.model, wildcards.quality) if wildcards.model in LEARNED else []


def checkpoint_arg(wildcards, input):
    return codec_ckpt_arg(wildcards.model, wildcards.quality, input.ckpt) if wildcards.model in LEARNED else ""


# -- small lookups from wildcards, shared by the rules of one stage --


def attack_run_file(name):
    """A file of one attack_run job; `victim` is a learned codec or one the defense study derives
    from it (advcompress.plan.attack.victim says how to build each)."""
    return plan.core.attack_out(config, "{attack}", "{victim}", name)


def classify_net(wildcards):
    """The net's checkpoint and its images (none for ImageNet, read in place)."""
    return plan.classify.net_inputs(config, wildcards.net)


def classify_data(wildcards):
    return plan.classify.net_data(config, wildcards.net)


def adv_arg(wildcards, input):
    """`--adv FILE` when the job reads classify_adv's images instead of attacking itself."""
    return f"--adv {shlex.quote(input.adv)}" if "adv" in input.keys() else ""


# Each wildcard has one meaning in every rule that uses it, constrained here once, from the plan.
_figures = {"attack": plan.attack.figure_plan(config), "defense": plan.defense.figure_plan(config),
            "classify": plan.classify.figure_plan(config), "backdoor": plan.backdoor.figure_plan(config)}
_tables = {"classify": plan.classify.table_plan(config), "backdoor": plan.backdoor.table_plan(config)}


wildcard_constraints:
    dataset=alternation(config["data"]),  # a key of `data`
    model=alternation([*LEARNED, *plan.core.classic(config)]),  # a configured codec
    quality=r"\d+|vr",  # a codec quality; vr: every quality of a variable-rate model
    attack=alternation(plan.attack.ATTACKS),  # an RD attack
    # an attacked codec: a learned one, or one derived from it (<model>@at-<samples>, <codec>+online)
    victim=derived_codecs_pattern([*plan.attack.models(config), *LEARNED]),
    attack_figure=alternation(_figures["attack"]),  # a file stem of the attack study's figures
    samples=alternation(plan.defense.at_samples(config)),  # a kind of AT samples (defense.at.samples)
    defense_figure=alternation(_figures["defense"]),  # a file stem of the defense study's figures
    net=alternation(plan.classify.nets(config)),  # a classifier of classify.nets
    arch=alternation(plan.classify.TORCHVISION_ARCHS),  # a torchvision architecture
    cls_attack=alternation(plan.classify.attacks(config)),  # a classifier attack
    defense=alternation(plan.classify.defenses(config)),  # a compression defense spec before a classifier
    codec=alternation(plan.classify.bpp_parts(config)),  # a codec of the classifier bpp table
    classify_table=alternation(_tables["classify"]),  # a table stem of the classify study
    classify_figure=alternation(_figures["classify"]),  # a figure stem of the classify study
    trigger=alternation(plan.backdoor.trigger_stems(config)),  # a classifier-backdoor trigger file
    bd_clean=alternation(plan.backdoor.clean_stems(config)),  # a clean classifier of the backdoor study
    run=alternation(plan.backdoor.runs(config)),  # a classifier-backdoor run
    backdoor_table=alternation(_tables["backdoor"]),  # a table stem of the backdoor studies
    backdoor_figure=alternation(_figures["backdoor"]),  # a figure file name of the backdoor studies
