"""Which gradient proxy makes the strongest RD attack: SRDA with each proxy, measured by real coding.

    python benchmark/attack_proxies.py --checkpoints results/checkpoints \\
        [--configfile config/config.yaml] [--eval-dir data/default/eval] \\
        [--proxies ste noise hybrid] [--quality-index 1] [--out proxies.csv]

For every learned codec of the tier (`attack.models`, or all of `codecs.learned`) at one quality
(`--quality-index` into its qualities; default the middle one), the project's SRDA job
(`attack.run.run_attack_job`, what `attack_run` calls) attacks the tier's evaluation crops under
every configured direction once per proxy. Every number is the job's own: ΔR from the bytes of a
real bitstream (`dR_actual_bpp`) and ΔD (`dD_mse255`) from the decoded image, no proxy.

Printed: per codec x direction each proxy's mean ΔR and ΔD over the images, its paired difference
from the baseline proxy (same images, same direction) with a seeded 95% bootstrap interval, and
the same for the attack's own objective on real coding, ΔL = γ_r ΔR + γ_d ΔD; `best` is keeping,
per sample, the proxy whose image has the larger ΔL (its cost is that of running them all). Then the
CPU seconds of each proxy's attacks per codec (`attack_cpu_s`, process time of the attack alone,
1 thread by default) and how many cells each proxy wins or loses on ΔL.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
METRICS = {"dR_actual_bpp": "dR", "dD_mse255": "dD", "dL": "dL"}
KEY = ["model", "quality", "direction", "image"]


def objective(rows: pd.DataFrame) -> pd.Series:
    """ΔL = γ_r ΔR + γ_d ΔD per row: the attack's loss (Eq. 3, sign flipped) on real coding."""
    return rows["gamma_r"] * rows["dR_actual_bpp"] + rows["gamma_d"] * rows["dD_mse255"]


def with_best(rows: pd.DataFrame, proxies: list[str]) -> pd.DataFrame:
    """`rows` plus, per sample (model, quality, direction, image), the row of the proxy whose
    adversarial image has the larger ΔL, labelled proxy `best`; a sample some proxy lacks (or
    whose ΔL is not finite) has no best row."""
    r = rows.reset_index(drop=True).assign(dL=objective(rows).to_numpy())
    cand = r[r["proxy"].isin(proxies) & np.isfinite(r["dL"])]
    complete = cand.groupby(KEY)["proxy"].transform("nunique") == len(proxies)
    cand = cand[complete]
    best = cand.loc[cand.groupby(KEY, sort=False)["dL"].idxmax()].assign(proxy="best")
    return pd.concat([r, best], ignore_index=True)


def comparison(rows: pd.DataFrame, baseline: str = "ste", seed: int = 0) -> pd.DataFrame:
    """One row per model x quality x direction x proxy: n images, mean ΔR, ΔD, ΔL and, for every
    proxy but the baseline, the paired mean difference from the baseline over the images with its
    95% bootstrap interval (`<m>_diff`, `_lo`, `_hi`)."""
    from advcompress.stats import group_seed, paired_difference

    proxies = [p for p in dict.fromkeys(rows["proxy"]) if p != "best"]
    r = with_best(rows, proxies)
    out = []
    for (model, q, d), g in r.groupby(["model", "quality", "direction"], sort=False):
        base = g[g["proxy"] == baseline].set_index("image")
        for p, gp in g.groupby("proxy", sort=False):
            gp = gp.set_index("image")
            row = {"model": model, "quality": q, "direction": d, "proxy": p, "n": len(gp)}
            for m, short in METRICS.items():
                row[short] = float(gp[m].mean())
            for m, short in METRICS.items():
                if p == baseline:
                    row |= {f"{short}_diff": 0.0, f"{short}_lo": 0.0, f"{short}_hi": 0.0}
                    continue
                common = gp.index.intersection(base.index)
                mean, lo, hi = paired_difference(gp.loc[common, m], base.loc[common, m],
                                                 group_seed(seed, model, q, d, p, m))
                row |= {f"{short}_diff": mean, f"{short}_lo": lo, f"{short}_hi": hi}
            out.append(row)
    return pd.DataFrame(out)


def cpu_seconds(rows: pd.DataFrame) -> pd.DataFrame:
    """CPU seconds of each proxy's attacks per model (one `attack_cpu_s` per attacked submodel),
    with `best` costing the sum of the proxies it chooses among."""
    per = rows.drop_duplicates(["model", "proxy", "attacked_quality"])
    t = per.groupby(["model", "proxy"], sort=False)["attack_cpu_s"].sum().unstack("proxy")
    t["best"] = t.sum(axis=1)
    return t.reset_index()


def verdicts(cmp: pd.DataFrame, metric: str = "dL", baseline: str = "ste") -> pd.DataFrame:
    """Per proxy: cells (model x direction) where its paired difference from the baseline has an
    interval above zero (`stronger`), below zero (`weaker`) or straddling it (`tied`)."""
    c = cmp[cmp["proxy"] != baseline]
    lo, hi = c[f"{metric}_lo"], c[f"{metric}_hi"]
    return (c.assign(stronger=lo > 0, weaker=hi < 0, tied=(lo <= 0) & (hi >= 0))
            .groupby("proxy", sort=False)[["stronger", "weaker", "tied"]].sum().reset_index())


def wide(cmp: pd.DataFrame, baseline: str = "ste") -> pd.DataFrame:
    """The printed table: per model x direction, each proxy's mean ΔR, ΔD and its difference
    from the baseline as 'mean [lo, hi]'."""
    from advcompress.stats import fmt_ci

    out = []
    for (model, q, d), g in cmp.groupby(["model", "quality", "direction"], sort=False):
        row = {"model": model, "q": q, "direction": d}
        for short, spec in [("dR", ".4f"), ("dD", ".1f")]:
            for _, r in g.iterrows():
                row[f"{short} {r['proxy']}"] = format(r[short], spec)
            for _, r in g[g["proxy"] != baseline].iterrows():
                row[f"{short} {r['proxy']}-{baseline}"] = fmt_ci(r[f"{short}_diff"], r[f"{short}_lo"],
                                                                 r[f"{short}_hi"], spec)
        out.append(row)
    return pd.DataFrame(out)


# -- running the attacks ---------------------------------------------------------------------------


def attack_settings(cfg: dict, model: str, quality: int) -> dict:
    """The settings slice attack_run gives a job (advcompress.plan.attack.run_settings), for one
    submodel on the CPU; latents are not read here, so none are extracted."""
    from advcompress.plan.attack import run_settings

    s = run_settings(cfg, model)
    return s | {"latent_directions": [], "qualities": [quality], "codec": s["codec"] | {"device": "cpu"}}


def checkpoint_path(root: Path, model: str, quality: int) -> Path:
    """The trained checkpoint as the workflow names it (advcompress.plan.core.checkpoint): one file,
    qvr, for a variable-rate model."""
    from advcompress.codecs.catalog import is_variable_rate

    return root / "codecs" / model / f"q{'vr' if is_variable_rate(model) else quality}.pt"


def run(a) -> pd.DataFrame:
    import torch

    from advcompress.attack.run import run_attack_job
    from advcompress.codecs import make_codec
    from advcompress.commands.attack import _load_eval
    from advcompress.config import load_tier

    torch.set_num_threads(a.threads)
    cfg = load_tier(a.configfile, root=Path(a.configfile).resolve().parents[1])
    models = a.models or cfg["attack"]["models"] or list(cfg["codecs"]["learned"])
    eval_dir = a.eval_dir or str(ROOT / cfg["data_dir"] / "eval")
    frames = []
    for model in models:
        qs = cfg["codecs"]["learned"][model]["qualities"]
        q = int(qs[len(qs) // 2 if a.quality_index is None else a.quality_index])
        s = attack_settings(cfg, model, q)
        if a.steps:
            s["steps"] = a.steps
        if a.images:
            s["images"] = a.images
        codec = make_codec(model, q, weights=s["codec"]["weights"], widths=s["codec"]["widths"],
                           checkpoint=str(checkpoint_path(Path(a.checkpoints), model, q)), device="cpu")
        names, x = _load_eval(eval_dir, s)
        for proxy in a.proxies:
            t0 = time.process_time()
            out = run_attack_job("srda", model, {q: codec}, names, x, s["directions"], {**s, "proxy": proxy})
            rows = out["rows"].assign(job_cpu_s=time.process_time() - t0)
            print(f"{model} q{q} {proxy}: {len(rows)} rows, attack {rows['attack_cpu_s'].iloc[0]:.1f} CPU s, "
                  f"job {rows['job_cpu_s'].iloc[0]:.1f} CPU s", file=sys.stderr, flush=True)
            frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", help="the run's checkpoint folder (<results>/checkpoints)")
    p.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"), help="the tier (default: %(default)s)")
    p.add_argument("--eval-dir", help="evaluation images (default: <data_dir>/eval of the tier)")
    p.add_argument("--models", nargs="+", help="codecs (default: the tier's attacked models)")
    p.add_argument("--quality-index", type=int, help="index into each codec's qualities (default: the middle one)")
    p.add_argument("--proxies", nargs="+", default=["ste", "noise", "hybrid"], help="first is the baseline")
    p.add_argument("--steps", type=int, help="T (default: the tier's attack.steps)")
    p.add_argument("--images", type=int, help="first N evaluation crops (default: the tier's attack.images)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--out", help="write every attack row (long CSV) here")
    p.add_argument("--rows", help="summarise these rows (a previous --out) instead of attacking")
    a = p.parse_args(argv)
    if a.rows:
        from advcompress.tables import concat_tables

        rows = concat_tables([a.rows])
    else:
        if not a.checkpoints:
            p.error("--checkpoints is required unless --rows is given")
        rows = run(a)
        if a.out:
            from advcompress.io import write_table

            write_table(a.out, rows)
    baseline = a.proxies[0]
    cmp = comparison(rows, baseline, a.seed)
    pd.set_option("display.width", 250)
    print(wide(cmp, baseline).to_markdown(index=False))
    print("\nCPU seconds of the attacks (process time; best = all proxies run):")
    print(cpu_seconds(rows).to_markdown(index=False, floatfmt=".1f"))
    print(f"\nCells where a proxy's ΔL = γ_r ΔR + γ_d ΔD differs from {baseline}'s (95% interval):")
    print(verdicts(cmp, "dL", baseline).to_markdown(index=False))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
