# Security of image compression: one workflow, three tiers (config/config.yaml, smoke.yaml, paper.yaml).
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


include: "workflow/rules/common.smk"


# Default target: every table and figure of the configured studies (each stage adds to ALL).
rule all:
    input:
        lambda wildcards: ALL,
    default_target: True


for _stage in sorted(Path(workflow.basedir, "workflow", "rules").glob("*.smk")):
    if not _stage.stem.endswith("common"):  # lookups, included by their stage file

        include: _stage


# One target per study, so a study rebuilds alone: `snakemake --cores all attack` (foundation,
# attack, defense, classify, backdoor: the studies this config runs).
for _study, _files in STUDIES.items():

    rule:
        name:
            _study
        input:
            _files
        localrule: True
