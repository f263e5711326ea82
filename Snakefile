# Security of image compression: one workflow, three tiers (config/config.yaml, smoke.yaml, paper.yaml).

import os
from pathlib import Path

from snakemake.utils import min_version, validate

from advcompress.config import over_default

min_version("9.0")


# A tier is an overlay of the default: config/smoke.yaml holds only what it changes (README,
# "Tiers"). Given --configfile, Snakemake reads only those files (and --config) into `config` and
# skips this directive; over_default lays them over the default, with Snakemake's merge plus
# `$patch: replace`, which Snakemake lacks (the default must not be merged in by the directive).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"

else:
    _tier = over_default(config, "config/config.yaml")
    config.clear()  # in the default's key order, as load_tier gives it
    config.update(_tier)


validate(config, "workflow/schemas/config.schema.yaml")


# Jobs find the `advcompress` CLI through PATH (common.smk puts the virtualenv first).
envvars:
    "PATH",


# Glue first (paths, settings as JSON, the study targets and every wildcard constraint, from
# advcompress.plan), then the helper that declares a study's figure rule, then one file per stage in
# the order the studies build on each other. No file depends on the order of the ones after it.
include: "workflow/rules/common.smk"
include: "workflow/rules/figure_rule.smk"
include: "workflow/rules/lic_rule.smk"  # the LIC backdoor's train/eval rule factories (backdoor.smk)
include: "workflow/rules/data.smk"  # foundation: datasets and official weights
include: "workflow/rules/models.smk"  # foundation: training the learned codecs
include: "workflow/rules/compress.smk"  # foundation: clean compression, clean RD tables
include: "workflow/rules/attack.smk"
include: "workflow/rules/defense.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/backdoor_photos.smk"
include: "workflow/rules/backdoor.smk"
include: "workflow/rules/claims.smk"


# Default target: every table and figure of the configured studies (advcompress.plan.targets).
rule all:
    input:
        ALL,
    default_target: True


# One target per study, so a study rebuilds alone: `snakemake --cores all attack` (foundation,
# attack, defense, classify, backdoor, claims: the studies this config runs).
for _study, _files in STUDIES.items():

    rule:
        name:
            _study
        input:
            _files
        localrule: True


# A local run forks every job from one warm `advcompress serve` (README, "Many small jobs"): most
# of a small job's cost is importing torch. Cluster jobs never reach it; dry runs never start it.
_STOP_SERVER = []


onstart:
    if config["job_server"] and workflow.local_exec and not os.environ.get("ADVCOMPRESS_SERVER"):
        from advcompress.commands.serve import start_background

        _STOP_SERVER.append(start_background(Path(f"logs/{config['tier']}/job_server.log")))


onsuccess:
    for _stop in _STOP_SERVER:
        _stop()


onerror:
    for _stop in _STOP_SERVER:
        _stop()
