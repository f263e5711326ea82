"""Describe the parsed workflow as JSON: every rule's resources, log, benchmark and shell command,
the final targets, the report outputs.

    python tests/cluster/inspect_workflow.py <workdir> [<configfile>]

Loads the Snakefile through Snakemake's API (no DAG, no jobs), so it sees every rule of every stage,
including rules the given config would not schedule. Tests run it in its own process: the API
changes the working directory and keeps global state.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path


def describe_resource(res) -> dict:
    """A static value, or for a function the names of its parameters (`attempt` means it scales)."""
    if res.is_evaluable():
        return {"callable": True, "params": list(inspect.signature(res._evaluator).parameters)}
    return {"callable": False, "value": res.value}


def report_field(value, output, targets: list[str]):
    """A report() field; one given as a function of the wildcards (a rule drawing several figures)
    as {target: its value} over the targets the output makes."""
    if not callable(value):
        return value
    from snakemake.iocontainers import Wildcards

    matches = [(t, output.match(t)) for t in targets]
    return {t: value(Wildcards(fromdict=m.groupdict())) for t, m in matches if m}


def describe_rule(wf, rule) -> dict:
    declared = {k: describe_resource(v) for k, v in rule.resources.items() if not k.startswith("_")}
    declared.pop("tmpdir", None)  # Snakemake's own default, set on every rule
    report = []
    for f in rule.output:
        obj = f.flags.get("report")
        if obj:
            targets = [str(t) for t in wf.globals["ALL"]]
            report.append({"pattern": str(f), "caption": str(obj.caption) if obj.caption else None,
                           "category": report_field(obj.category, f, targets),
                           "subcategory": report_field(obj.subcategory, f, targets)})
    return {
        "rule": rule.name,
        "local": rule.name in wf._localrules or rule.norun,
        "threads": describe_resource(rule.resources["_cores"]),
        "retries": rule._restart_times or 0,
        "resources": declared,
        "outputs": [str(f) for f in rule.output],
        "directories": [str(f) for f in rule.output if f.flags.get("directory")],
        "report": report,
        "file": str(Path(rule.snakefile).name),
        "runs": not rule.norun,  # False for a pure target (input only)
        "shell": rule.shellcmd,
        "log": [str(f) for f in rule.log],
        "benchmark": str(rule.benchmark) if rule.benchmark else None,
    }


def inspect_workflow(workdir: Path, configfile: Path) -> dict:
    """{"rules": [...], "targets": the global ALL list of final tables and figures, "studies": the
    one-study target rules, "tier": the config's tier}."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        wf_api = api.workflow(
            ResourceSettings(),
            ConfigSettings(configfiles=[configfile]),
            snakefile=workdir / "Snakefile",
            workdir=workdir,
        )
        wf = wf_api._workflow  # the parsed workflow; Snakemake offers no public accessor for rules
        return {
            "rules": [describe_rule(wf, r) for r in wf.rules],
            "targets": [str(t) for t in wf.globals["ALL"]],
            "studies": sorted(wf.globals["STUDIES"]),
            "tier": wf.globals["TIER"],
        }


def rule_resources(workdir: Path, configfile: Path) -> list[dict]:
    return inspect_workflow(workdir, configfile)["rules"]


if __name__ == "__main__":
    work = Path(sys.argv[1]).resolve()
    config = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("config/config.yaml")
    json.dump(inspect_workflow(work, work / config), sys.stdout, indent=1)
