"""The classifier-defense study's plan: compression before a classifier (human-aligned defense
paper) and saliency-guided adaptive JPEG.

Each job's settings hold exactly the keys its `advcompress classify-*` command reads, so changing a
key reruns only the jobs that read it.
"""

from __future__ import annotations

from pathlib import Path

from advcompress.classify.defense_spec import parse_defense
from advcompress.classify.figures import FIGURES
from advcompress.classify.tables import TABLES
from advcompress.codecs.catalog import codec_names
from advcompress.plan.core import (
    checkpoint,
    ckpt_dir,
    codec_ckpt_arg,
    codec_settings,
    data_dir,
    job_key,
    learned,
    results,
)
from advcompress.plan.foundation import fetch_jobs

TORCHVISION_ARCHS = ("resnet50", "vit_b_16")  # the schema's classify.nets.*.arch
# What load_classifier reads of a net's spec; its training settings reach later jobs only through
# the checkpoint, and its images through `data`.
NET_KEYS = ["kind", "width", "num_classes", "arch", "classes"]
LINF, L2 = ("fgsm", "ifgsm", "pgd"), ("cw", "deepfool")


def nets(cfg: dict) -> dict:
    return cfg["classify"]["nets"]


def out_dir(cfg: dict) -> str:
    return f"{results(cfg)}/classify"


def ckpt_out(cfg: dict) -> str:
    """Where the trained digits CNNs live (with every other training output: core.ckpt_dir)."""
    return f"{ckpt_dir(cfg)}/classify"


def ablation_defenses(cfg: dict) -> list[str]:
    return [f"jpeg@{q}" for q in cfg["classify"]["jpeg_ablation"]["qualities"]]


def codec_ablation_defenses(cfg: dict, codec: str | None = None) -> list[str]:
    """The learned codecs' quality ablations (Tables 7-8): `<codec>@<q>` per configured quality."""
    abl = cfg["classify"]["codec_ablation"]
    return [f"{m}@{q}" for m in abl if codec in (None, m) for q in abl[m]]


def sequential_rounds(cfg: dict, base: str) -> list[int]:
    """Rounds of one sequential base: `learned_rounds` for a learned codec (the paper stops ELIC and
    HiFiC at 7, section 4.5.1: the gradient through more rounds did not fit), `rounds` otherwise."""
    seq = cfg["classify"]["sequential"]
    return seq["learned_rounds"] if parse_defense(base)[0].codec in codec_names("learned") else seq["rounds"]


def sequential_defenses(cfg: dict, codec: str | None = None, net: str | None = None) -> list[str]:
    """`<base>x<N>` of every sequential base (of `codec`), every N; for `net`, only the bases it runs:
    a learned base only on `learned_nets` (null: every net; the paper's Figs. 8-9 are ResNet-50's)."""
    seq = cfg["classify"]["sequential"]
    bases = [d for d in seq["defenses"] if codec in (None, parse_defense(d)[0].codec)]
    if net is not None and seq["learned_nets"] is not None and net not in seq["learned_nets"]:
        bases = [d for d in bases if parse_defense(d)[0].codec not in codec_names("learned")]
    return [f"{d}x{n}" for d in bases for n in sequential_rounds(cfg, d)]


def sequential_codecs(cfg: dict) -> list[str]:
    """The codecs of the sequential bases, in order: one table and figures each (Tables 9-11)."""
    return list(dict.fromkeys(parse_defense(d)[0].codec for d in cfg["classify"]["sequential"]["defenses"]))


def bpp_defenses(cfg: dict) -> list[str]:
    """Every configured learned codec at each of its qualities, and JPEG at the ablation qualities."""
    lic = learned(cfg)
    return [*(f"{m}@{q}" for m in lic for q in lic[m]["qualities"]), *ablation_defenses(cfg)]


def attacks(cfg: dict) -> list[str]:
    """Every classifier attack a job runs (the `cls_attack` wildcard)."""
    c = cfg["classify"]
    return list(dict.fromkeys([*c["attacks"], c["jpeg_ablation"]["attack"], c["sequential"]["attack"],
                               *adaptive_attacks(cfg)]))


def adaptive_attacks(cfg: dict) -> list[str]:
    """The adaptive-JPEG comparison's attacks (Fig. 6): the main one (Table 1), then `attacks`."""
    a = cfg["classify"]["adaptive"]
    return list(dict.fromkeys([a["attack"], *a["attacks"]]))


def defenses(cfg: dict) -> list[str]:
    """Every defense spec a job applies (the `defense` wildcard)."""
    c = cfg["classify"]
    return list(dict.fromkeys([*c["defenses"], *sequential_defenses(cfg), *ablation_defenses(cfg),
                               *codec_ablation_defenses(cfg), *c["cycles"]["defenses"]]))


def check(cfg: dict) -> None:
    known, all_learned, lic = set(codec_names()), set(codec_names("learned")), learned(cfg)
    for spec in defenses(cfg):
        for step in parse_defense(spec):
            if step.codec not in known:
                raise ValueError(f"classify: defense {spec!r} names codec {step.codec!r}, not in the registry")
            if step.codec in lic and int(step.quality) not in lic[step.codec]["qualities"]:
                raise ValueError(f"classify: defense {spec!r}: {step.codec} has no configured quality {step.quality}")
            if step.codec in all_learned and step.codec not in lic:
                raise ValueError(f"classify: defense {spec!r}: learned codec {step.codec} is not in codecs.learned")
    for key, names in [("adaptive.nets", cfg["classify"]["adaptive"]["nets"]),
                       ("sequential.learned_nets", cfg["classify"]["sequential"]["learned_nets"] or [])]:
        for net in names:
            if net not in nets(cfg):
                raise ValueError(f"classify.{key}: {net!r} is not in classify.nets")
    for codec in cfg["classify"]["codec_ablation"]:
        if codec not in codec_names("learned"):
            raise ValueError(f"classify.codec_ablation: {codec!r} is not a learned codec (JPEG's is jpeg_ablation)")
    for spec in cfg["classify"]["cycles"]["defenses"]:
        if len(parse_defense(spec)) != 1 or parse_defense(spec)[0].rounds != 1:
            raise ValueError(f"classify.cycles.defenses: {spec!r} is not one <codec>@<quality> (the rounds are cycles.rounds)")


def net_ckpt(cfg: dict, net: str) -> str:
    spec = nets(cfg)[net]
    if spec["kind"] == "smallcnn":
        return f"{ckpt_out(cfg)}/{net}/classifier.pt"
    return f"{data_dir(cfg)}/weights/torchvision/{spec['arch']}.pth"


def net_dataset(cfg: dict, net: str) -> str | None:
    """The `data` key of the net's images (None: ImageNet, read in place from its `path`)."""
    ds = nets(cfg)[net]["dataset"]
    return None if ds == "imagenet" else ds


def net_data(cfg: dict, net: str) -> str:
    ds = net_dataset(cfg, net)
    return nets(cfg)[net]["path"] if ds is None else f"{data_dir(cfg)}/{ds}"


def net_inputs(cfg: dict, net: str) -> dict:
    return {"net": net_ckpt(cfg, net), "data": [] if net_dataset(cfg, net) is None else [net_data(cfg, net)]}


def data_settings(cfg: dict, net: str, images=None) -> dict:
    spec = nets(cfg)[net]
    return {"kind": "digits" if spec["dataset"] == "digits" else spec["dataset"],
            "images": spec["images"] if images is None else images, "size": spec.get("size", 224),
            **({"resize": spec["resize"]} if "resize" in spec else {})}


def job_settings(cfg: dict, net: str, attack=None, eps=None, through=None, images=None, defenses=(),
                 unread=()) -> dict:
    """A classify job's settings; `unread` names the keys its command does not read (left out, so
    changing them reruns nothing)."""
    c = cfg["classify"]
    codecs = {s.codec: codec_settings(cfg, s.codec) for d in defenses for s in parse_defense(d)}
    s = {"seed": cfg["seed"], "device": cfg["device"],
         "net": {k: v for k, v in nets(cfg)[net].items() if k in NET_KEYS}, "batch_size": c["batch_size"],
         "data": data_settings(cfg, net, images), "codecs": codecs}
    if attack is not None:
        s["attack"] = {k: v for k, v in c["attacks"].get(attack, {}).items() if k != "through"}
        s["eps_255"] = eps if eps is not None else c["eps_255"]
        s["through"] = through if through is not None else c["attacks"][attack]["through"]
    return {k: v for k, v in s.items() if k not in unread}


def codec_ckpts(cfg: dict, specs) -> dict[str, str]:
    """{name@quality: checkpoint} of every learned step in the given defense specs."""
    out = {}
    for spec in specs:
        for s in parse_defense(spec):
            if s.codec in learned(cfg):
                out[s.key] = checkpoint(cfg, s.codec, int(s.quality))
    return out


def codec_ckpt_args(cfg: dict, specs) -> str:
    return " ".join(codec_ckpt_arg(*k.rsplit("@", 1), v) for k, v in sorted(codec_ckpts(cfg, specs).items()))


def with_codecs(cfg: dict, net: str, specs) -> dict:
    """The net's inputs and the checkpoints of the learned codecs in `specs`."""
    return {**net_inputs(cfg, net), "codecs": list(codec_ckpts(cfg, specs).values())}


def adv_out(cfg: dict, net: str, attack: str) -> str:
    return f"{out_dir(cfg)}/{net}/adv/{attack}.pt"


def shared_adv(cfg: dict, net: str, attack: str, eps_255, images=None) -> dict:
    """{"adv": classify_adv's file} when it holds the through = false images a job needs (same
    attack and settings, every eps, the same seeded images), else {}: computed once, not per job."""
    c = cfg["classify"]
    same_images = images is None or images == nets(cfg)[net]["images"]
    if attack in c["attacks"] and same_images and set(eps_255) <= set(c["eps_255"]):
        return {"adv": adv_out(cfg, net, attack)}
    return {}


# -- each rule's inputs and settings ---------------------------------------------------------------


def train_settings(cfg: dict, net: str) -> dict:
    spec = nets(cfg)[net]
    return {"seed": cfg["seed"], "train": spec["train"] | {"width": spec.get("width", 32)}}


def adv_settings(cfg: dict, net: str, attack: str) -> dict:
    return job_settings(cfg, net, attack, unread=["through"])


def attack_inputs(cfg: dict, net: str, attack: str, defense: str) -> dict:
    return {**net_inputs(cfg, net), "adv": adv_out(cfg, net, attack),
            "codecs": list(codec_ckpts(cfg, [defense]).values())}


def attack_settings(cfg: dict, net: str, attack: str, defense: str) -> dict:
    return job_settings(cfg, net, attack, defenses=[defense])


def ablation_inputs(cfg: dict, net: str, defense: str) -> dict:
    """JPEG's (Table 6) and the learned codecs' (Tables 7-8) ablations share the attack settings."""
    abl = cfg["classify"]["jpeg_ablation"]
    return with_codecs(cfg, net, [defense]) | shared_adv(cfg, net, abl["attack"], abl["eps_255"])


def ablation_settings(cfg: dict, net: str, defense: str) -> dict:
    abl = cfg["classify"]["jpeg_ablation"]
    return job_settings(cfg, net, abl["attack"], abl["eps_255"], abl["through"], defenses=[defense])


def sequential_settings(cfg: dict, net: str, defense: str) -> dict:
    """The paper always propagates gradients through sequential defenses (section 3.5); the attack
    runs `micro_batch` images at a time (GPU memory: N codec forwards are differentiated)."""
    seq = cfg["classify"]["sequential"]
    return (job_settings(cfg, net, seq["attack"], seq["eps_255"], [True], defenses=[defense])
            | {"attack_batch_size": seq["micro_batch"] or cfg["classify"]["batch_size"]})


def bpp_parts(cfg: dict) -> dict[str, list[str]]:
    """The bpp table in one job per codec (its qualities together): 300 digits through mbt2018's
    autoregressive decoder alone take ~35 s a quality, so one job for all would hold up a core."""
    parts: dict[str, list[str]] = {}
    for spec in bpp_defenses(cfg):
        parts.setdefault(parse_defense(spec)[0].codec, []).append(spec)
    return parts


def bpp_settings(cfg: dict, net: str, codec: str) -> dict:
    specs = bpp_parts(cfg)[codec]
    return job_settings(cfg, net, images=cfg["classify"]["bpp"]["images"], defenses=specs) | {"defenses": specs}


def overhead_settings(cfg: dict, net: str) -> dict:
    c = cfg["classify"]
    return (job_settings(cfg, net, images=c["overhead"]["images"], defenses=c["defenses"], unread=["batch_size"])
            | {"defenses": c["defenses"]})


def adaptive_inputs(cfg: dict, net: str, attack: str | None = None) -> dict:
    a = cfg["classify"]["adaptive"]
    return net_inputs(cfg, net) | shared_adv(cfg, net, attack or a["attack"], [a["eps_255"]], a["images"])


# What the adaptive comparison reads of classify.adaptive (not the nets, images, the other attacks
# of Fig. 6 or Fig. 2a's qualities, so changing those reruns only their jobs).
ADAPTIVE_KEYS = ["attack", "eps_255", "jpeg_quality", "k", "input_sigma", "activation_sigma", "threshold", "floor",
                 "tolerance", "examples"]


def adaptive_settings(cfg: dict, net: str, attack: str | None = None) -> dict:
    """The adaptive comparison under `attack` (default: the main one, Table 1 and Fig. 5; the others
    of `adaptive.attacks` give Fig. 6's rows)."""
    a = cfg["classify"]["adaptive"]
    attack = attack or a["attack"]
    return (job_settings(cfg, net, attack, images=a["images"], unread=["eps_255", "through"])
            | {"adaptive": {k: v for k, v in a.items() if k in ADAPTIVE_KEYS} | {"attack": attack}})


def adaptive_attack_out(cfg: dict, net: str, attack: str) -> str:
    """Fig. 6's rows of one attack; the main attack's are adaptive.csv (Table 1)."""
    a = cfg["classify"]["adaptive"]
    return f"{out_dir(cfg)}/{net}/adaptive.csv" if attack == a["attack"] else f"{out_dir(cfg)}/{net}/adaptive/{attack}.csv"


def adaptive_quality_settings(cfg: dict, net: str) -> dict:
    """Fig. 2a: plain JPEG at each of `adaptive.qualities` on the main attack's images."""
    a = cfg["classify"]["adaptive"]
    return (job_settings(cfg, net, a["attack"], images=a["images"], unread=["eps_255", "through"])
            | {"sweep": {"attack": a["attack"], "eps_255": a["eps_255"], "qualities": a["qualities"]}})


def cycles_net(cfg: dict) -> str:
    """Fig. 1's images: the evaluation images of the first net (the paper tier: Imagenette)."""
    return next(iter(nets(cfg)))


def cycles_inputs(cfg: dict) -> dict:
    net = cycles_net(cfg)
    return {"data": net_inputs(cfg, net)["data"], "codecs": list(codec_ckpts(cfg, cfg["classify"]["cycles"]["defenses"]).values())}


def cycles_settings(cfg: dict) -> dict:
    """Fig. 1: `cycles.images` images after `cycles.rounds` real compression cycles of each defense."""
    cyc = cfg["classify"]["cycles"]
    return (job_settings(cfg, cycles_net(cfg), images=cyc["images"], defenses=cyc["defenses"],
                         unread=["net", "batch_size"])
            | {"defenses": cyc["defenses"], "rounds": cyc["rounds"]})


# -- tables and figures ----------------------------------------------------------------------------


def attack_tables(cfg: dict) -> list[str]:
    c = cfg["classify"]
    return [f"{out_dir(cfg)}/{n}/attack/{a}/{d}.csv" for n in nets(cfg) for a in c["attacks"] for d in c["defenses"]]


def table_inputs(cfg: dict) -> dict[str, list[str]]:
    """Table kind -> the job outputs it summarises (a kind without any has no table)."""
    c, d, ns = cfg["classify"], out_dir(cfg), nets(cfg)
    by_attack = [(Path(p).parent.name, p) for p in attack_tables(cfg)]
    return {
        "linf": [p for a, p in by_attack if a in LINF],
        "ifgsm": [p for a, p in by_attack if a == "ifgsm"],
        "l2": [p for a, p in by_attack if a in L2],
        "ablation": [f"{d}/{n}/ablation/{s}.csv" for n in ns for s in ablation_defenses(cfg)],
        "codec_ablation": [f"{d}/{n}/ablation/{s}.csv" for n in ns for s in codec_ablation_defenses(cfg)],
        "sequential": [f"{d}/{n}/sequential/{s}.csv" for n in ns for s in sequential_defenses(cfg, net=n)],
        "bpp": [f"{d}/{n}/bpp/{codec}.csv" for n in ns for codec in bpp_parts(cfg)],
        "overhead": [f"{d}/{n}/overhead.csv" for n in ns],
        "adaptive": [f"{d}/{n}/adaptive.csv" for n in c["adaptive"]["nets"]],
        "adaptive_attacks": [adaptive_attack_out(cfg, n, a) for n in c["adaptive"]["nets"] for a in adaptive_attacks(cfg)],
        "adaptive_quality": [f"{d}/{n}/adaptive_quality.csv" for n in c["adaptive"]["nets"] if c["adaptive"]["qualities"]],
        "cycles": [f"{d}/cycles.pt"] if c["cycles"]["defenses"] else [],
    }


def _read(cfg: dict, group: str, value: str | None) -> list[str]:
    """The files of a group a registered table or figure reads: a table_inputs group; one net's
    adaptive examples; one codec's ablation or sequential rows."""
    d, ns = out_dir(cfg), nets(cfg)
    if group == "adaptive_examples":
        return [f"{d}/{value}/adaptive_examples.pt"]
    if group == "codec_ablation" and value is not None:
        return [f"{d}/{n}/ablation/{s}.csv" for n in ns for s in codec_ablation_defenses(cfg, value)]
    if group == "sequential" and value is not None:
        return [f"{d}/{n}/sequential/{s}.csv" for n in ns for s in sequential_defenses(cfg, value, n)]
    return table_inputs(cfg)[group]


def entry_inputs(cfg: dict, entry, value=None) -> dict[str, list[str]]:
    """Role -> files of a registered table or figure (entry.reads), for `value` (its net or codec)
    when it has one file per net or codec."""
    return {role: _read(cfg, group, value) for role, group in entry.reads.items()}


def each_values(cfg: dict, entry) -> list[str]:
    """The values of an entry with one file per net or codec: the adaptive nets, the ablated learned
    codecs (Tables 7-8) or the sequential codecs (Tables 9-11)."""
    if entry.each == "net":
        return cfg["classify"]["adaptive"]["nets"]
    (group,) = entry.reads.values()
    return list(cfg["classify"]["codec_ablation"]) if group == "codec_ablation" else sequential_codecs(cfg)


def entry_settings(cfg: dict, entry, net=None) -> dict | None:
    """The settings slice a table or figure reads (entry.settings), from the config; None: it reads none."""
    values = {"seed": cfg["seed"], "l2_thresholds": cfg["classify"]["l2_thresholds"]}
    return {k: values[k] for k in entry.settings} if entry.settings else None


def _registry_plan(cfg: dict, registry) -> dict:
    """File stem -> (entry, net or None): each entry with rows to read; a per-net one for each adaptive net."""
    return registry.plan(lambda e: each_values(cfg, e), keep=lambda e: bool(e.each) or all(entry_inputs(cfg, e).values()))


def table_plan(cfg: dict) -> dict:
    """Stem under tables/classify_ -> (registered table, None)."""
    return _registry_plan(cfg, TABLES)


def figure_plan(cfg: dict) -> dict:
    """Stem under figures/classify_ -> (registered figure, net or None)."""
    return _registry_plan(cfg, FIGURES)


def targets(cfg: dict) -> list[str]:
    out, ns = results(cfg), nets(cfg)
    return ([f"{out}/tables/classify_{k}.{ext}" for k in table_plan(cfg) for ext in ("csv", "md")]
            + [f"{out}/figures/classify_{k}.pdf" for k in figure_plan(cfg)]
            + [f"{ckpt_out(cfg)}/{n}/classifier.json" for n in ns if ns[n]["kind"] == "smallcnn"])


def jobs(cfg: dict) -> dict:
    """This study's jobs with their settings (None: the rule passes none)."""
    c, ns = cfg["classify"], nets(cfg)
    smallcnn = [n for n in ns if ns[n]["kind"] == "smallcnn"]
    out = fetch_jobs(cfg, dict.fromkeys([*(["digits"] if smallcnn else []),
                                         *filter(None, (net_dataset(cfg, n) for n in ns))]))
    out |= {job_key("classify_train", net=n): train_settings(cfg, n) for n in smallcnn}
    out |= {job_key("classify_fetch_classifier", arch=ns[n]["arch"]): None for n in ns if n not in smallcnn}
    abl = c["jpeg_ablation"]
    shared = ([shared_adv(cfg, n, abl["attack"], abl["eps_255"]) for n in ns]
              + [adaptive_inputs(cfg, n, a) for n in c["adaptive"]["nets"] for a in adaptive_attacks(cfg)])
    shared = {i["adv"] for i in shared if "adv" in i}
    adv = [(n, a) for n in ns for a in c["attacks"] if c["defenses"] or adv_out(cfg, n, a) in shared]
    for n in ns:
        for a in c["attacks"]:
            out |= {job_key("classify_attack", net=n, cls_attack=a, defense=d): attack_settings(cfg, n, a, d)
                    for d in c["defenses"]}
        out |= {job_key("classify_ablation", net=n, defense=d): ablation_settings(cfg, n, d)
                for d in [*ablation_defenses(cfg), *codec_ablation_defenses(cfg)]}
        out |= {job_key("classify_sequential", net=n, defense=d): sequential_settings(cfg, n, d)
                for d in sequential_defenses(cfg, net=n)}
        out |= {job_key("classify_bpp", net=n, codec=k): bpp_settings(cfg, n, k) for k in bpp_parts(cfg)}
        out[job_key("classify_overhead", net=n)] = overhead_settings(cfg, n)
    out |= {job_key("classify_adv", net=n, cls_attack=a): adv_settings(cfg, n, a) for n, a in adv}
    for n in c["adaptive"]["nets"]:
        out[job_key("classify_adaptive", net=n)] = adaptive_settings(cfg, n)
        out |= {job_key("classify_adaptive_attack", net=n, cls_attack=a): adaptive_settings(cfg, n, a)
                for a in adaptive_attacks(cfg)[1:]}
        if c["adaptive"]["qualities"]:
            out[job_key("classify_adaptive_quality", net=n)] = adaptive_quality_settings(cfg, n)
    if c["cycles"]["defenses"]:
        out[job_key("classify_cycles")] = cycles_settings(cfg)
    out |= {job_key("classify_table", classify_table=k): entry_settings(cfg, *e) for k, e in table_plan(cfg).items()}
    out |= {job_key("classify_figure", classify_figure=k): entry_settings(cfg, *e) for k, e in figure_plan(cfg).items()}
    return out
