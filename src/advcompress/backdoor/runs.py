"""The classifier-backdoor runs a config asks for, named once so rules, jobs and tables agree.

A run is one backdoored classifier: architecture, method (common, adversarial, fc), trigger, alpha,
the fractions of normal and compressed backdoor instances, the codecs that made the compressed ones,
and the backdoor phase's epochs and initial learning rate. Sweeps reuse the main run where their
value equals the main setting. The first of `archs` is the main architecture: every table but
Table 4 (one row pair per architecture) and Table 7 (`studies.trigger_archs`) is run on it, and its
runs keep their unsuffixed names; another architecture's runs end in `-<arch>`.
"""

from __future__ import annotations


def _num(v: float) -> str:
    return format(float(v), "g")


def archs(cfg: dict) -> list[str]:
    """The architectures of Table 4; the first is the main one."""
    return list(cfg["archs"])


def arch_suffix(cfg: dict, arch: str) -> str:
    """'' for the main architecture (its names predate the others), '-<arch>' otherwise."""
    return "" if arch == archs(cfg)[0] else f"-{arch}"


def plan_runs(cfg: dict) -> dict[str, dict]:
    """{run name: spec} for Tables 4-11 and Figs. 6-7 (a and b) of the compression-resistant paper.

    `study` lists the sweeps that read a run: main, ir, alpha, epochs, lr, transfer (main
    architecture); archs (Table 4's other architectures), arch_triggers (Table 7, Fig. 6b: every
    trigger on each of studies.trigger_archs), arch_transfer (Fig. 7b: their fc run of the main
    trigger and one run per training codec).
    """
    studies = cfg["studies"]
    triggers = studies["triggers"]
    main, arch0 = triggers[0], archs(cfg)[0]
    phase = cfg["classifier"]["backdoor"]
    base = {
        "arch": arch0,
        "alpha": float(cfg["alpha"]),
        "normal_fraction": float(cfg["normal_fraction"]),
        "compressed_fraction": float(cfg["compressed_fraction"]),
        "train_codecs": dict(cfg["train_codecs"]),
        "epochs": int(phase["epochs"]),
        "lr": float(phase["lr"]),
    }
    runs: dict[str, dict] = {}

    def put(name, study, **spec):
        """Run `name` of `spec` (over base), read by `study` as well as by the sweeps that already name it."""
        runs.setdefault(name, {**base, **spec, "study": []})
        runs[name]["study"] = sorted({*runs[name]["study"], study})
        return name

    for t in triggers:
        put(f"common-{t}", "main", method="common", trigger=t)
        put(f"fc-{t}", "main", method="fc", trigger=t)
    if studies.get("adversarial", True):
        put(f"adversarial-{main}", "main", method="adversarial", trigger=main)

    def add(name, study, arch=arch0, **over):
        """A variant of arch's fc run of the main trigger; that run itself where `over` changes nothing."""
        fc_main = f"fc-{main}{arch_suffix(cfg, arch)}"
        if fc_main in runs and all(runs[fc_main][k] == v for k, v in over.items()):
            return put(fc_main, study)
        return put(name, study, method="fc", trigger=main, arch=arch, **over)

    for f in studies.get("ir_sweep", []):
        add(f"fc-{main}-ir{_num(f)}", "ir", compressed_fraction=float(f))
    for a in studies.get("alpha_sweep", []):
        add(f"fc-{main}-a{_num(a)}", "alpha", alpha=float(a))
    for e in studies.get("epochs_sweep", []):
        add(f"fc-{main}-e{int(e)}", "epochs", epochs=int(e))
    for lr in studies.get("lr_sweep", []):
        add(f"fc-{main}-lr{_num(lr)}", "lr", lr=float(lr))
    transfer = studies.get("transfer", True)
    if transfer:
        for c, q in cfg["train_codecs"].items():
            add(f"fc-{main}-only-{c}", "transfer", train_codecs={c: q})
    for arch in archs(cfg)[1:]:
        sfx = arch_suffix(cfg, arch)
        for method in ("common", "fc"):
            put(f"{method}-{main}{sfx}", "archs", method=method, trigger=main, arch=arch)
        if arch not in studies.get("trigger_archs", []):
            continue
        for t in triggers:
            for method in ("common", "fc"):
                put(f"{method}-{t}{sfx}", "arch_triggers", method=method, trigger=t, arch=arch)
        put(f"fc-{main}{sfx}", "arch_transfer")  # Fig. 7b's all-codec row, as fig7 reads the main fc run
        if transfer:
            for c, q in cfg["train_codecs"].items():
                add(f"fc-{main}-only-{c}{sfx}", "arch_transfer", arch=arch, train_codecs={c: q})
    return runs


def runs_of(cfg: dict, study: str) -> list[str]:
    return [name for name, spec in plan_runs(cfg).items() if study in spec["study"]]
