# Lookups of the backdoor stage (issue 6), kept apart from its rules (snakemake --lint).
from snakemake.utils import validate

from advcompress.backdoor.report import CLASSIFIER_TABLES
from advcompress.backdoor.runs import plan_runs, runs_of


validate(config["backdoor"], workflow.source_path("../schemas/backdoor.schema.yaml"))

BD = config["backdoor"]
BD_OUT = f"{OUT}/backdoor"
BD_RUNS = plan_runs(BD)
BD_TRIGGERS = list(BD["triggers"])
BD_DIGITS = f"{DATA}/{BD.get('dataset', 'digits')}"  # digits (default, smoke) or cifar10 (paper)
BD_LIC = BD["lic"]
for _m in BD_LIC["models"]:
    if _m not in LEARNED:
        raise ValueError(f"backdoor.lic.models lists {_m!r}, which is not in codecs.learned")


def bd_settings():
    return BD | {"seed": config["seed"], "device": config["device"]}


def bd_lic_qualities(model):
    return BD_LIC["qualities"] or LEARNED[model]["qualities"]


def bd_lic_points():
    return [(m, q) for m in BD_LIC["models"] for q in bd_lic_qualities(m)]


def bd_lic_settings(model):
    return bd_settings() | {"codec": codec_settings(model)}


def bd_example_point():
    m = BD_LIC["models"][0]
    qs = bd_lic_qualities(m)
    return m, qs[len(qs) // 2]


def bd_run_tables(study):
    return [f"{BD_OUT}/runs/{r}.csv" for r in runs_of(BD, study)]


BD_TABLES = [f"{OUT}/tables/backdoor_{t}.csv" for t in CLASSIFIER_TABLES if bd_run_tables(CLASSIFIER_TABLES[t])]


def bd_lic_tables(kind):
    return [f"{BD_OUT}/lic/{m}/q{q}_{kind}.csv" for m, q in bd_lic_points()]
