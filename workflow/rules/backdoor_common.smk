# Lookups of the backdoor stage (issue 6), kept apart from its rules (snakemake --lint).
from snakemake.utils import validate

from advcompress.backdoor.report import CLASSIFIER_TABLES
from advcompress.backdoor.runs import plan_runs, runs_of


validate(config["backdoor"], workflow.source_path("../schemas/backdoor.schema.yaml"))

BD = config["backdoor"]
BD_OUT = f"{OUT}/backdoor"
BD_CKPT = f"{CKPT}/backdoor"  # what the backdoor training jobs write (common.smk: CKPT)
BD_RUNS = plan_runs(BD)
BD_TRIGGERS = list(BD["triggers"])
BD_DATASET = BD.get("dataset", "digits")
if BD_DATASET != "photos" and BD_DATASET not in config["data"]:
    raise ValueError(f"backdoor.dataset is {BD_DATASET!r}: neither photos nor a key of data ({', '.join(config['data'])})")
if BD_DATASET == "photos":
    for _key, _label in [("target_class", BD["target_class"]), ("lic.ds_target", BD["lic"]["ds_target"])]:
        if _label >= len(BD["photos"]["images"]):
            raise ValueError(f"backdoor.{_key} is {_label}, but backdoor.photos.images has only "
                             f"{len(BD['photos']['images'])} classes")
# The classification data: photo patches (rule backdoor_photos), digits (default, smoke) or cifar10 (paper).
BD_DIGITS = f"{DATA}/backdoor_photos" if BD_DATASET == "photos" else f"{DATA}/{BD_DATASET}"
BD_LIC = BD["lic"]
for _m in BD_LIC["models"]:
    if _m not in LEARNED:
        raise ValueError(f"backdoor.lic.models lists {_m!r}, which is not in codecs.learned")


# Each job gets exactly the keys its `advcompress backdoor-*` command reads, so changing one key
# reruns only the jobs that read it (and what follows from their outputs); never the whole section.


def _bd_classifier(phase):
    """The classifier keys one training phase reads (the backdoor phase loads its layout from the clean net)."""
    c = BD["classifier"]
    layout = ["width", "blocks"] if phase == "clean" else []
    return {k: c[k] for k in [*layout, "batch_size", "momentum", "weight_decay", phase]}


def bd_photos_settings():
    return {"seed": config["seed"], "photos": BD["photos"]}


def bd_clean_settings():
    return {"seed": config["seed"], "device": config["device"], "classifier": _bd_classifier("clean")}


def bd_trigger_settings(trigger):
    return {"seed": config["seed"], "triggers": {trigger: BD["triggers"][trigger]},
            "target_class": BD["target_class"], "test_codecs": BD["test_codecs"], "jpeg_sweep": BD["jpeg_sweep"]}


def bd_train_settings(run):
    """One run's spec from plan_runs (not the sweeps that name it), and the backdoor phase."""
    spec = {k: v for k, v in BD_RUNS[run].items() if k != "study"}
    return {"seed": config["seed"], "device": config["device"], "run": spec, "target_class": BD["target_class"],
            "lambda1": BD["lambda1"], "lambda2": BD["lambda2"], "classifier": _bd_classifier("backdoor")}


def bd_table_settings():
    # The tables read the main trigger (the first of studies.triggers) and the test codecs.
    return {"seed": config["seed"], "studies": {"triggers": BD["studies"]["triggers"][:1]},
            "test_codecs": BD["test_codecs"]}


def bd_lic_qualities(model):
    return BD_LIC["qualities"] or LEARNED[model]["qualities"]


def bd_lic_points():
    return [(m, q) for m in BD_LIC["models"] for q in bd_lic_qualities(m)]


BD_LIC_TRAIN_KEYS = ["steps", "batch_size", "patch", "lr", "trigger_lr", "gamma", "proxy", "curriculum", "trigger",
                     "objectives", "ds_target"]
BD_LIC_EVAL_KEYS = ["defenses", "ds_target", "ds_images"]


def bd_lic_settings(model, keys):
    """backdoor-lic-train reads the training keys of backdoor.lic, backdoor-lic-eval the evaluation ones."""
    return {"seed": config["seed"], "codec": codec_settings(model), "lic": {k: BD_LIC[k] for k in keys if k in BD_LIC}}


def bd_example_point():
    m = BD_LIC["models"][0]
    qs = bd_lic_qualities(m)
    return m, qs[len(qs) // 2]


def bd_run_tables(study):
    return [f"{BD_CKPT}/runs/{r}.csv" for r in runs_of(BD, study)]


BD_CLEAN_TA = f"{BD_CKPT}/classifier/clean_ta.csv"  # the clean classifier's TA as a run row


BD_TABLES = [f"{OUT}/tables/backdoor_{t}.csv" for t in CLASSIFIER_TABLES if bd_run_tables(CLASSIFIER_TABLES[t])]


def bd_lic_tables(kind):
    return [f"{BD_OUT}/lic/{m}/q{q}_{kind}.csv" for m, q in bd_lic_points()]
