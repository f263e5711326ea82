"""The paper tier's resource plan (issue 15, item 4): per rule, what the CPU rehearsal measured, how
much more work `config/paper.yaml` gives each job, the GPU hours that makes, and the Slurm
resources that follow.

    .venv/bin/python benchmark/resource_plan.py measure --workdir /tmp/$USER-rehearse-paper
    .venv/bin/python benchmark/resource_plan.py plan [--write-profile] [--write-docs]

`measure` reads a rehearsal's job-server log (benchmark/rehearse_paper.py: one line per forked job
with its CPU seconds and peak RSS), names each job's rule from the rehearsal's dry run (an output
path in the job's argv), and writes `benchmark/rehearsal_costs.json`: per rule, jobs measured, mean
and largest CPU seconds per job, largest peak RSS. A partial rehearsal gives a partial file; rules
it did not reach are listed as unmeasured by `plan`.

`plan` reads that file and both configs and prints, per rule:
- the mean work of the rule's jobs in the rehearsal and in the paper tier (`UNITS`: the product of
  what a job's cost grows with, read from its own settings where its rule's jobs differ: images x
  pixels x steps, epochs x training images x the classifier's multiply-accumulates per image, ...),
  and their ratio; the estimate is linear in it and charges the rehearsal's fixed per-job cost
  (model loading) at that ratio too, so it errs high;
- paper-tier jobs (`advcompress.plan.jobs`), CPU hours on one core, and for GPU-tagged rules the
  GPU hours at a stated GPU/CPU speed ratio (`GPU_RATIO`, below);
- the Slurm runtime per job (3x the estimate for the rule's largest job, at least 15 min) and mem_mb (2x the rehearsal's
  peak RSS plus the official weights' excess over the narrow stand-ins of the codecs the rule's jobs
  load, plus the training set held in memory, at least 2000).
`--write-profile` writes those runtimes and mem_mb into `profiles/slurm/config.yaml` between its
`# resource plan` markers; `--write-docs` writes the table into docs/cluster.md between the same
markers. tests/test_resource_plan.py checks that both match what `plan` computes from the committed
costs file.

GPU/CPU ratio: NVIDIA's DeepLearningExamples (PyTorch/Classification/ConvNets/resnet50v1.5/README.md,
"Training performance results") report ResNet-50 training at 938 img/s on one A100 80GB (TF32); on
this machine the same model trains at 2.25 images per CPU-second on one thread (`measure-cpu`
below; 2026-12-03, load average ~9). The rehearsal's jobs run on one thread, so one A100 is taken
as 938 / 2.25 = 417 cores of this machine for GPU-tagged rules. That ratio is for dense convolution;
jobs that spend their time in the entropy coder (which runs on the CPU even on a GPU node) get less,
so GPU hours are a lower bound for coding-heavy rules and the Slurm runtimes keep a 3x margin.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


COSTS = ROOT / "benchmark" / "rehearsal_costs.json"
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
DOCS = ROOT / "docs" / "cluster.md"
BEGIN, END = "# resource plan: begin (benchmark/resource_plan.py plan --write-profile)", "# resource plan: end"
DOC_BEGIN, DOC_END = "<!-- resource plan: begin (benchmark/resource_plan.py plan --write-docs) -->", "<!-- resource plan: end -->"

A100_IMG_S = 938.0  # ResNet-50 training, 1x A100 80GB, TF32 (NVIDIA DeepLearningExamples)
CPU_IMG_PER_CPU_S = 2.25  # ResNet-50 training here, one thread (measure-cpu)
GPU_RATIO = A100_IMG_S / CPU_IMG_PER_CPU_S
MARGIN, MIN_RUNTIME, MIN_MEM = 3.0, 15, 2000

# What the paper tier's downloads hold; the rehearsal's stand-ins are counted on disk by `measure`.
PAPER_DATA = {"kodak_n": 24, "kodak_px": 512 * 768, "div2k_n": 800, "div2k_px": 2040 * 1356,
              "cifar_train": 50000, "val": {"imagenette": 3925, "imagenet": 50000}}
TRAIN_SET_RULES = {"defense_train_at", "backdoor_lic_train", "train_lic"}  # hold DIV2K in memory


def _attack_work(cfg, d, job=None, wildcards=None):
    a = cfg["attack"]
    images = a["images"] or d["kodak_n"]
    px = a["crop"] ** 2 if a["crop"] else d["kodak_px"]
    return images * px * (a["steps"] + a["max_warmup_steps"] + 1)


def _classify_work(cfg, d, job, wildcards=None):
    """The job's images (a null count is its net's whole validation split) x its attack's steps (one
    for FGSM and for a job without an attack) x, for a sequential defense (`<codec>@<q>x<N>`), its N
    rounds: each job's own, since FGSM and CW differ 50-fold in steps and the rounds 1 to 50."""
    images = job["data"]["images"] or d["val"][job["data"]["kind"]]
    steps = int((job.get("attack") or {}).get("steps", 1))
    rounds = re.search(r"defense=[^,]*x(\d+)\b", wildcards or "")
    return images * steps * (int(rounds[1]) if rounds else 1)


def _bpp_work(cfg, d, job, wildcards=None):
    """classify-bpp codes its images once per quality of one codec at the net's input size: no attack."""
    data = job["data"]
    return (data["images"] or d["val"][data["kind"]]) * len(job["defenses"]) * data["size"] ** 2


@functools.cache
def _macs(arch: str, layout: str) -> int:
    """Multiply-accumulates of one forward pass of a 32x32 image through the backdoor classifier
    `arch` built with `layout` (JSON of the config's width, blocks and scale; `build` takes the ones
    its architecture has). Counted on the network itself: ResNet-18 grows with width^2, AlexNet and
    VGG-16 with their own channel counts times `scale`, which no ResNet width describes."""
    import torch

    from advcompress.classifiers import build

    net, macs = build({"kind": arch, "num_classes": 10, **json.loads(layout)}).eval(), []

    def count(mod, inputs, out):
        if isinstance(mod, torch.nn.Conv2d):
            macs.append(out.numel() * mod.in_channels // mod.groups * math.prod(mod.kernel_size))
        elif isinstance(mod, torch.nn.Linear):
            macs.append(out.numel() * mod.in_features)

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    return sum(macs)


def _arch_macs(cfg, arch: str) -> int:
    c = cfg["backdoor"]["classifier"]
    return _macs(arch, json.dumps({"width": c["width"], "blocks": c["blocks"], "scale": c["scale"].get(arch)}))


def _clean_work(cfg, d, job, wildcards=None):
    c = job["classifier"]
    return c["clean"]["epochs"] * d["cifar_train"] * _arch_macs(cfg, c["arch"])


def _backdoor_work(cfg, d, job, wildcards=None):
    """The backdoor phase trains the run's architecture, laid out as its clean net, for the run's
    epochs (Table 9 sweeps them)."""
    return job["run"]["epochs"] * d["cifar_train"] * _arch_macs(cfg, job["run"]["arch"])


def _trigger_work(cfg, d, job=None, wildcards=None):
    """Mean over the trigger jobs: a TrojanNN trigger is optimised for its steps on its own network
    (`<trigger>-<arch>`), the others are drawn once."""
    from advcompress.plan.backdoor import trigger_stems

    triggers = cfg["backdoor"]["triggers"]
    work = [int(triggers.get(t, {}).get("steps", 1)) * _arch_macs(cfg, arch) for t, arch in trigger_stems(cfg).values()]
    return sum(work) / len(work)


def _lic_train_work(cfg, d, job, wildcards=None):
    lic = job["lic"]
    return lic["steps"] * lic["batch_size"] * lic["patch"] ** 2


# rule -> (unit, work of one job as a function of (resolved config, dataset sizes, the job's
# settings and wildcards from advcompress.plan.jobs)); a rule's scale is the ratio of its mean work per job
UNITS = {
    "compress_clean": ("eval pixels", lambda c, d, j, w=None: d["kodak_n"] * d["kodak_px"]),
    "defense_clean": ("eval pixels", lambda c, d, j, w=None: d["kodak_n"] * d["kodak_px"]),
    "attack_run": ("images x pixels x steps", _attack_work),
    "attack_tau": ("images x pixels x steps", _attack_work),
    "defense_train_at": ("steps x batch x patch^2 x inner steps", lambda c, d, j, w=None: (
        c["defense"]["at"]["steps"] * c["defense"]["at"]["batch_size"] * c["defense"]["at"]["patch"] ** 2
        * (1 + c["defense"]["at"]["attack"]["steps"]))),
    "train_lic": ("steps x batch x patch^2", lambda c, d, j, w=None: c["train"]["steps"] * c["train"]["batch_size"] * c["train"]["patch"] ** 2),
    **{r: ("steps x batch x patch^2", _lic_train_work)
       for r in ("backdoor_lic_train", "backdoor_lic_lira_train", "backdoor_lic_seg_train", "backdoor_lic_seg_lira_train")},
    **{r: ("eval pixels", lambda c, d, j, w=None: d["kodak_n"] * d["kodak_px"]) for r in ("backdoor_lic_eval", "backdoor_lic_lira_eval")},
    **{r: ("test mosaics", lambda c, d, j, w=None: j["seg"]["test_mosaics"]) for r in ("backdoor_lic_seg_eval", "backdoor_lic_seg_lira_eval")},
    "backdoor_clean_classifier": ("epochs x images x MACs/image", _clean_work),
    "backdoor_train": ("epochs x images x MACs/image", _backdoor_work),
    "backdoor_trigger": ("steps x MACs/image", _trigger_work),
    **{r: ("images x attack steps", _classify_work)
       for r in ("classify_attack", "classify_adv", "classify_ablation", "classify_overhead", "classify_adaptive")},
    "classify_bpp": ("images x qualities x pixels", _bpp_work),
    "classify_sequential": ("images x attack steps x rounds", _classify_work),
}


# -- measure ---------------------------------------------------------------------------------------


def dag_jobs(workdir: Path) -> list[tuple[str, set[str], set[str], str, bool]]:
    """(rule, inputs, outputs, advcompress command, GPU-tagged) of every job of the rehearsal's whole
    DAG (`snakemake -n -p --forceall`)."""
    from benchmark.rehearse_paper import OVERLAY, PAPER, dry_run_jobs, snakemake

    proc = snakemake(workdir, "-n", "-p", "--forceall", "--configfile", PAPER, OVERLAY, cores=1,
                     env={"PYTHONPATH": str(workdir / "src")})  # the snapshot's library, if any
    if proc.returncode:
        sys.exit(f"resource_plan: dry run in {workdir} failed: {proc.stderr[-500:]}")
    jobs = []
    for rule, fields, text in dry_run_jobs(proc.stdout):
        command = re.search(r"\badvcompress ([\w-]+)", text)
        jobs.append((rule, set(fields.get("input", [])), set(fields.get("output", [])), command[1] if command else "",
                     "gpu=1" in fields.get("resources", [])))
    return jobs


def rule_of(argv: list[str], jobs) -> str | None:
    """The rule of the job this argv ran: a job of its command with an output in the argv; outputs
    of upstream jobs (its inputs) may be there too, so the match that feeds none of the others is
    the one. With no output in the argv (a log line cut short), the one rule that runs the command."""
    tokens = set(argv)
    matches = [(r, i, o) for r, i, o, c, _ in jobs if c == argv[0] and o & tokens]
    last = {r for k, (r, _, o) in enumerate(matches) if not any(o & i for j, (_, i, _) in enumerate(matches) if j != k)}
    if len(last) == 1:
        return last.pop()
    by_command = {r for r, _, _, c, _ in jobs if c == argv[0]}
    return by_command.pop() if len(by_command) == 1 else None


def served_jobs(log_text: str) -> list[tuple[float, float, list[str]]]:
    """(CPU s, peak RSS MiB, argv) of every job the server finished with exit 0."""
    from advcompress.commands.serve import job_costs

    return [(j["cpu_s"], j["rss_mib"], j["argv"]) for j in job_costs(log_text) if j["exit"] == 0]


def costs(served, dag) -> dict[str, dict]:
    """Per rule: jobs, mean and largest CPU s, largest peak RSS, from the served jobs."""
    per: dict[str, list] = {}
    for cpu, rss, argv in served:
        rule = rule_of(argv, dag)
        if rule is None:
            continue
        per.setdefault(rule, []).append((cpu, rss))
    return {rule: {"jobs": len(v), "cpu_mean_s": sum(c for c, _ in v) / len(v), "cpu_max_s": max(c for c, _ in v),
                   "rss_max_mib": max(r for _, r in v)} for rule, v in sorted(per.items())}


def stand_in_sizes(workdir: Path) -> dict:
    """What the rehearsal's datasets held, counted on disk: the work units' data terms."""
    import pickle

    from PIL import Image

    data = workdir / "data" / "paper"

    def images(folder: Path, pattern: str) -> tuple[int, float]:
        files = sorted(folder.rglob(pattern))
        if not files:
            sys.exit(f"resource_plan: no {pattern} under {folder}: not a rehearsal workdir")
        return len(files), sum(math.prod(Image.open(f).size) for f in files) / len(files)

    kodak_n, kodak_px = images(data / "eval", "*.png")
    div2k_n, div2k_px = images(data / "train", "*.png")
    cifar = 0
    for batch in sorted((data / "cifar10").rglob("data_batch_*")):
        with open(batch, "rb") as f:
            cifar += len(pickle.load(f, encoding="latin1")["labels"])
    val = {"imagenette": len([f for f in (data / "imagenette").rglob("*") if f.is_file() and "/val/" in str(f)]),
           "imagenet": len([f for f in (data / "imagenet" / "val").rglob("*") if f.is_file()])}
    return {"kodak_n": kodak_n, "kodak_px": kodak_px, "div2k_n": div2k_n, "div2k_px": div2k_px,
            "cifar_train": cifar, "val": val}


def _tensor_mib(obj) -> float:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size() / 2**20
    return sum(_tensor_mib(v) for v in obj.values()) if isinstance(obj, dict) else 0.0


def weight_gaps(workdir: Path) -> dict[str, float]:
    """Per learned codec: MiB of tensors its official-width file holds beyond the rehearsal's narrow
    stand-in (at its widest quality), which a paper-tier job holds in memory and the rehearsal's
    peak RSS did not see. The official side is the stand-in builder at official widths."""
    import torch

    from benchmark import standins

    gaps = {}
    for folder in sorted(p for p in (workdir / "data" / "paper" / "weights").iterdir() if p.name != "torchvision"):
        files = sorted(folder.glob("q*.pth.tar"), key=lambda f: (len(f.name), f.name))
        if not files:
            continue
        quality = files[-1].name.removesuffix(".pth.tar")[1:]
        narrow = _tensor_mib(torch.load(files[-1], map_location="cpu", weights_only=True))
        official = _tensor_mib(standins.official_checkpoint(folder.name, quality if quality == "vr" else int(quality)))
        gaps[folder.name] = round(max(0.0, official - narrow), 1)
    return gaps


def write_costs(rules: dict[str, dict], data: dict, overlay: dict, dag, path: Path = COSTS,
                gaps: dict[str, float] | None = None, local: list[str] | None = None) -> None:
    """The measurement: per-rule costs, the stand-ins' sizes, the scale overlay they ran with, the
    rehearsed DAG's rules, which of them it tags `gpu=1` and which run on the submit host, and the
    codecs' weight gaps."""
    from advcompress.io import write_json

    write_json(path, {"rules": rules, "data": data, "overlay": overlay, "dag_rules": sorted({j[0] for j in dag}),
                      "gpu_rules": sorted({j[0] for j in dag if j[4]}), "local_rules": local or [],
                      "weight_gap_mib": gaps or {}})


def read_costs(path: Path = COSTS) -> dict:
    return json.loads(path.read_text())


# -- plan ------------------------------------------------------------------------------------------


def configs(overlay: dict) -> tuple[dict, dict]:
    """(paper, rehearsal): the resolved paper tier, and it under the rehearsal's scale overlay."""
    import tempfile

    import yaml

    from advcompress.config import load_tier

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rehearsal.yaml"
        path.write_text(yaml.safe_dump(overlay))
        return load_tier("config/paper.yaml", root=ROOT), load_tier("config/paper.yaml", path, root=ROOT)


def job_work(rule: str, cfg: dict, data: dict, jobs: dict | None = None) -> list[float]:
    """The work (`UNITS`) of each of `rule`'s jobs in `cfg` (`jobs`: advcompress.plan.jobs(cfg)): the
    jobs of one rule may differ in what they cost (the backdoor runs' architectures and epochs, the
    classifier jobs' attacks and sequential rounds)."""
    if rule not in UNITS:
        return [1.0]
    from advcompress import plan

    work = UNITS[rule][1]
    own = [(s, w) for (r, w), s in (plan.jobs(cfg) if jobs is None else jobs).items() if r == rule]
    return [work(cfg, data, s, w) for s, w in own] if own else [work(cfg, data, None)]


def mean_work(rule: str, cfg: dict, data: dict, jobs: dict | None = None) -> float:
    works = job_work(rule, cfg, data, jobs)
    return sum(works) / len(works)


def local_rules(workdir: Path) -> list[str]:
    """The rules the parsed workflow runs on the submit host (`localrules:` and `localrule: True`:
    fetches, tables, figures, targets), from Snakemake's API in its own process
    (tests/cluster/inspect_workflow.py): Slurm resources for them would never be used."""
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster" / "inspect_workflow.py"), str(workdir),
                           "config/paper.yaml"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(workdir / "src")})
    if proc.returncode:
        sys.exit(f"resource_plan: inspecting the workflow in {workdir} failed: {proc.stderr[-500:]}")
    return sorted(r["rule"] for r in json.loads(proc.stdout)["rules"] if r["local"])


def job_codecs(wildcards: str, settings: dict | None) -> set[str]:
    """The codecs a job loads: its model/victim/codec/defense wildcards' algorithm (before `@` or
    `+`) and the classifier study's `codecs` settings."""
    named = re.findall(r"\b(?:model|victim|codec|defense)=([\w.-]+)", wildcards or "")
    return {n.split("@")[0].split("+")[0] for n in named} | set((settings or {}).get("codecs") or {})


def plan_rows(costs: dict) -> list[dict]:
    """One row per rule of the paper tier: measured cost, scale, hours, Slurm resources."""
    from advcompress import plan

    paper, rehearsal = configs(costs["overlay"])
    measured = costs["rules"]

    jobs = {"paper": plan.jobs(paper), "rehearsal": plan.jobs(rehearsal)}
    counts: dict[str, int] = {}
    gap: dict[str, float] = {}  # the largest official-weight gap of a codec the rule's jobs load
    for (rule, wildcards), settings in jobs["paper"].items():
        counts[rule] = counts.get(rule, 0) + 1
        gaps = [costs.get("weight_gap_mib", {}).get(c, 0.0) for c in job_codecs(wildcards, settings)]
        gap[rule] = max([gap.get(rule, 0.0), *gaps])
    gpu, local = set(costs["gpu_rules"]), set(costs.get("local_rules", []))
    rows = []
    for rule, n in sorted(counts.items()):
        m = measured.get(rule)
        unit, _ = UNITS.get(rule, ("(not scaled)", None))
        works = job_work(rule, paper, PAPER_DATA, jobs["paper"])
        rehearsed_work = mean_work(rule, rehearsal, costs["data"], jobs["rehearsal"])
        ratio, longest = sum(works) / len(works) / rehearsed_work, max(works) / rehearsed_work
        row = {"rule": rule, "gpu": rule in gpu, "paper_jobs": n, "unit": unit, "scale": ratio, "measured": m,
               "rehearsed": rule in costs["dag_rules"], "local": rule in local}
        if m:
            per_job_s = m["cpu_mean_s"] * ratio / (GPU_RATIO if rule in gpu else 1.0)
            longest_s = per_job_s * longest / ratio  # the Slurm runtime must hold the rule's largest job
            data_mib = (PAPER_DATA["div2k_n"] * PAPER_DATA["div2k_px"] * 3 / 2**20) if rule in TRAIN_SET_RULES else 0
            row.update(cpu_h=n * m["cpu_mean_s"] * ratio / 3600, hours=n * per_job_s / 3600, per_job_min=per_job_s / 60,
                       runtime=max(MIN_RUNTIME, math.ceil(MARGIN * longest_s / 60)),
                       mem_mb=max(MIN_MEM, int(math.ceil((2 * (m["rss_max_mib"] + gap[rule]) + data_mib) / 500) * 500)))
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| rule | device | rehearsal CPU s / job (n) | peak RSS MiB | work unit | paper / rehearsal | paper jobs "
            "| CPU h (1 core) | GPU h or CPU h | Slurm runtime (min) | mem_mb |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    gpu_h = cpu_h = 0.0
    for r in rows:
        m = r["measured"]
        if not m:
            device = ("GPU" if r["gpu"] else "CPU") if r["rehearsed"] else "?"
            status = "not measured" if r["rehearsed"] else "not in the rehearsed DAG"
            slurm = "submit host | submit host" if r["local"] else "profile default | profile default"
            lines.append(f"| {r['rule']} | {device} | {status} | | {r['unit']} | {r['scale']:.3g} "
                         f"| {r['paper_jobs']} | | | {slurm} |")
            continue
        if r["gpu"]:
            gpu_h += r["hours"]
        else:
            cpu_h += r["hours"]
        lines.append(f"| {r['rule']} | {'GPU' if r['gpu'] else 'CPU'} | {m['cpu_mean_s']:.1f} ({m['jobs']}) | {m['rss_max_mib']:.0f} "
                     f"| {r['unit']} | {r['scale']:.3g} | {r['paper_jobs']} | {r['cpu_h']:.3g} "
                     f"| {r['hours']:.3g} {'GPU' if r['gpu'] else 'CPU'} | "
                     + ("submit host | submit host |" if r["local"] else f"{r['runtime']} | {r['mem_mb']} |"))
    lines.append(f"\n**Total: {gpu_h:.0f} GPU hours** (one A100 = {GPU_RATIO:.0f} cores of this machine) "
                 f"**and {cpu_h:.1f} CPU hours** for the measured rules; unmeasured rules are not in the total.")
    return "\n".join(lines) + "\n"


def profile_block(rows: list[dict]) -> str:
    out = [BEGIN]
    for r in rows:
        if r["measured"] and not r["local"]:
            out += [f"  {r['rule']}:", f"    runtime: {r['runtime']}", f"    mem_mb: {r['mem_mb']}"]
    return "\n".join(out + [END]) + "\n"


def replace_between(text: str, begin: str, end: str, block: str, where: Path) -> str:
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit(f"resource_plan: {where} has no '{begin}' ... '{end}' markers")
    line_start = text.rfind("\n", 0, i) + 1
    return text[:line_start] + block + text[text.index("\n", j) + 1:]


def measure_cpu(steps: int = 3, batch: int = 8) -> float:
    """ResNet-50 training images per CPU-second on one thread (the GPU_RATIO's denominator)."""
    import torch
    import torchvision

    torch.set_num_threads(1)
    net = torchvision.models.resnet50(weights=None).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(batch, 3, 224, 224), torch.randint(1000, (batch,))
    times = []
    for _ in range(steps + 1):
        t = time.process_time()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.process_time() - t)
    return batch / sorted(times[1:])[len(times[1:]) // 2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="per-rule costs of a rehearsal -> benchmark/rehearsal_costs.json")
    m.add_argument("--workdir", type=Path, required=True, help="a rehearse_paper.py workdir")
    p = sub.add_parser("plan", help="the resource table from the costs file and the configs")
    p.add_argument("--write-profile", action="store_true", help=f"write runtimes and mem_mb into {PROFILE.relative_to(ROOT)}")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS.relative_to(ROOT)}")
    sub.add_parser("measure-cpu", help="ResNet-50 training images per CPU-second here (one thread)")
    a = ap.parse_args(argv)
    if a.cmd == "measure":
        from benchmark.rehearse_paper import server_log

        log = server_log(a.workdir)
        if not log.is_file():
            print(f"resource_plan: error: {log} not found (run benchmark/rehearse_paper.py first)", file=sys.stderr)
            return 2
        dag = dag_jobs(a.workdir)
        rows = costs(served_jobs(log.read_text()), dag)
        overlay = yaml.safe_load((a.workdir / "rehearsal.yaml").read_text())
        write_costs(rows, stand_in_sizes(a.workdir), overlay, dag, gaps=weight_gaps(a.workdir),
                    local=local_rules(a.workdir))
        print(f"{sum(r['jobs'] for r in rows.values())} jobs of {len(rows)} rules -> {COSTS.relative_to(ROOT)}")
        return 0
    if a.cmd == "measure-cpu":
        print(f"ResNet-50 training: {measure_cpu():.2f} images per CPU-second (one thread)")
        return 0
    rows = plan_rows(read_costs())
    table = markdown(rows)
    print(table)
    if a.write_profile:
        PROFILE.write_text(replace_between(PROFILE.read_text(), BEGIN, END, profile_block(rows), PROFILE))
    if a.write_docs:
        DOCS.write_text(replace_between(DOCS.read_text(), DOC_BEGIN, DOC_END, f"{DOC_BEGIN}\n{table}{DOC_END}\n", DOCS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
