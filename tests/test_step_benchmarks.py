"""The A/B step benchmarks (benchmark/gdn.py, layout.py, compile.py) and their shared timing loop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmark.steps import interleaved_medians, ratios
from tests.conftest import ROOT


def test_interleaved_medians_alternate_the_order_and_drop_the_warm_up_round():
    order, clock = [], iter(range(100))
    variants = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    med = interleaved_medians(variants, lambda: {"step": float(next(clock))}, repeats=3)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    # measurements 0 (a) and 1 (b) warm up; then a gets 3, 4, 7 and b gets 2, 5, 6
    assert med == {("step", "a"): 4.0, ("step", "b"): 5.0}


def test_ratios_are_above_one_where_the_other_variant_is_cheaper():
    med = {("train", "eager"): 0.3, ("train", "compiled"): 0.2, ("attack", "eager"): 0.1, ("attack", "compiled"): 0.2}
    assert ratios(med, "eager", "compiled") == {"train_eager_over_compiled": 1.5, "attack_eager_over_compiled": 0.5}


@pytest.mark.parametrize("script, keys, extra", [
    ("gdn", {"train_GDN_over_MatmulGDN", "attack_GDN_over_MatmulGDN"}, []),
    ("layout", {"train_contiguous_over_channels_last", "code_contiguous_over_channels_last"}, []),
    # aot_eager traces and differentiates like inductor but generates no C++ (a minute of compiling)
    ("compile", {"train_eager_over_compiled", "first_step_cold_cache_cpu_s"}, ["--backend", "aot_eager"]),
])
def test_step_benchmark_prints_a_json_line_with_equal_reconstructions(script, keys, extra):
    """One tiny run end to end: the script runs as a file and wires its variants to the timing loop."""
    model = "bmshj2018-factorized"
    out = subprocess.run(
        [sys.executable, f"benchmark/{script}.py", "--models", model, "--batch", "1", "--patch", "64",
         "--steps", "1", "--repeats", "1", *extra],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    row = json.loads(out.splitlines()[-1])
    assert row["model"] == model and row["threads"] == 1
    assert keys <= set(row) and all(row[k] > 0 for k in keys)
    assert row["max_abs_diff_x_hat"] < 1e-4
