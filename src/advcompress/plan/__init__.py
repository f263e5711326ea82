"""Planning: the resolved config -> each study's targets and each job's settings, torch-free.

One module per study (`foundation`, `attack`, `defense`, `classify`, `backdoor`, `claims`), each
with `targets(cfg)` (its final tables and figures), `jobs(cfg)` ({(rule, wildcards): the settings
slice the rule passes, or None}) and the functions its rules call for paths, inputs and settings;
`core` holds what they share. The workflow's rules call these functions (workflow/rules/common.smk
binds them to Snakemake); tests call them directly (tests/test_plan.py). Nothing here imports
torch, CompressAI or Snakemake: every `snakemake` call plans.
"""

from __future__ import annotations

from advcompress.plan import attack, backdoor, claims, classify, core, defense, foundation

STUDIES = {"foundation": foundation, "attack": attack, "defense": defense, "classify": classify,
           "backdoor": backdoor, "claims": claims}

__all__ = ["STUDIES", "attack", "backdoor", "check", "classify", "claims", "core", "defense", "foundation",
           "jobs", "targets"]


def check(cfg: dict) -> None:
    """Raise ValueError, naming the config key, for what the schemas cannot see: names that must
    refer to other entries of the config or to the codec catalog."""
    for module in STUDIES.values():
        if hasattr(module, "check"):
            module.check(cfg)


def targets(cfg: dict) -> dict[str, list[str]]:
    """Study -> its final tables and figures (each study is a target of its own; all of them: `all`)."""
    check(cfg)
    return {name: module.targets(cfg) for name, module in STUDIES.items()}


def jobs(cfg: dict) -> dict[core.JobKey, dict | None]:
    """Every job the config plans: (rule, wildcards as `snakemake -n` prints them) -> its settings."""
    check(cfg)
    out: dict = {}
    for module in STUDIES.values():
        for key, settings in module.jobs(cfg).items():
            if key in out and out[key] != settings:
                raise AssertionError(f"two studies plan {key} with different settings")
            out[key] = settings
    return out
