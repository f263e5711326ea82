"""The classifier-backdoor runs a config asks for, named once so rules, jobs and tables agree.

A run is one backdoored classifier: method (common, adversarial, fc), trigger, alpha, the
fractions of normal and compressed backdoor instances, and the codecs that made the compressed
ones. Sweeps reuse the main run where their value equals the main setting.
"""

from __future__ import annotations


def _num(v: float) -> str:
    return format(float(v), "g")


def plan_runs(cfg: dict) -> dict[str, dict]:
    """{run name: spec} for Tables 4-6, 8, 11 and Fig. 7 of the compression-resistant paper."""
    studies = cfg["studies"]
    triggers = studies["triggers"]
    main = triggers[0]
    base = {
        "alpha": float(cfg["alpha"]),
        "normal_fraction": float(cfg["normal_fraction"]),
        "compressed_fraction": float(cfg["compressed_fraction"]),
        "train_codecs": dict(cfg["train_codecs"]),
    }
    runs: dict[str, dict] = {}
    for t in triggers:
        runs[f"common-{t}"] = {**base, "method": "common", "trigger": t, "study": ["main"]}
        runs[f"fc-{t}"] = {**base, "method": "fc", "trigger": t, "study": ["main"]}
    if studies.get("adversarial", True):
        runs[f"adversarial-{main}"] = {**base, "method": "adversarial", "trigger": main, "study": ["main"]}

    def add(name, study, **over):
        spec = {**base, "method": "fc", "trigger": main, **over}
        if all(spec[k] == runs[f"fc-{main}"][k] for k in over):
            name = f"fc-{main}"
        else:
            runs[name] = {**spec, "study": []}
        runs[name]["study"] = sorted({*runs[name]["study"], study})
        return name

    for f in studies.get("ir_sweep", []):
        add(f"fc-{main}-ir{_num(f)}", "ir", compressed_fraction=float(f))
    for a in studies.get("alpha_sweep", []):
        add(f"fc-{main}-a{_num(a)}", "alpha", alpha=float(a))
    if studies.get("transfer", True):
        for c, q in cfg["train_codecs"].items():
            add(f"fc-{main}-only-{c}", "transfer", train_codecs={c: q})
    return runs


def runs_of(cfg: dict, study: str) -> list[str]:
    return [name for name, spec in plan_runs(cfg).items() if study in spec["study"]]
