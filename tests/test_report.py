"""`snakemake --report`: every figure of the workflow is in it, with a caption, a category and a subcategory."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.io import regex_from_filepattern

from tests.conftest import ROOT, copy_workflow, snakemake

INSPECT = ROOT / "tests" / "cluster" / "inspect_workflow.py"
FIGURE_SUFFIXES = (".pdf", ".png", ".svg", ".jpg")


def inspect(work: Path, config: str) -> dict:
    out = subprocess.run([sys.executable, str(INSPECT), str(work), config],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def report_entry_for(target: str, rules: list[dict]) -> dict | None:
    """The report() declaration of the rule output that produces `target`, if any."""
    import re

    for rule in rules:
        for entry in rule["report"]:
            if re.match(regex_from_filepattern(entry["pattern"]), target):
                return entry
    return None


def figures(workflow: dict) -> list[str]:
    return [t for t in workflow["targets"] if t.endswith(FIGURE_SUFFIXES)]


def tables(workflow: dict) -> list[str]:
    return [t for t in workflow["targets"] if "/tables/" in t and t.endswith(".csv")]


def test_every_default_figure_and_table_is_a_captioned_report_item(tmp_path):
    """Statically, for the default config: each figure and table target is a report() output with a real caption."""
    work = copy_workflow(tmp_path)
    wf = inspect(work, "config/config.yaml")
    figs = figures(wf) + tables(wf)
    assert any(f.endswith("figures/rd_clean.pdf") for f in figs)
    assert any(f.endswith("tables/attack/table2.csv") for f in figs)
    problems = []
    for fig in figs:
        entry = report_entry_for(fig, wf["rules"])
        if entry is None:
            problems.append(f"{fig}: its rule's output is not wrapped in report(...)")
            continue
        caption = Path(entry["caption"] or "")
        if not caption.is_file() or not caption.read_text().strip():
            problems.append(f"{fig}: caption file {caption} is missing or empty")
        # given as a function of the wildcards (one rule, several figures): the value for this figure
        category, sub = (v.get(fig) if isinstance(v, dict) else v for v in (entry["category"], entry["subcategory"]))
        if not category or not sub:
            problems.append(f"{fig}: category {category!r} / subcategory {sub!r}")
    assert not problems, "\n".join(problems)


def report_results(html: str) -> dict:
    """The report's embedded `<script id="results"> var results = {...}` (one entry per result file)."""
    start = html.index("var results = ", html.index('<script id="results">')) + len("var results = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


def test_report_parser_reads_results():
    html = 'var results = [];\n<script id="results"> var results = {"a.pdf": {"caption": "<p>c</p>", "data_uri": "data:;base64,AA=="}};\n</script>'
    assert report_results(html) == {"a.pdf": {"caption": "<p>c</p>", "data_uri": "data:;base64,AA=="}}


@pytest.fixture(scope="module")
def smoke_report(smoke_run, tmp_path_factory) -> tuple[Path, Path]:
    html = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(smoke_run, "--configfile", "config/smoke.yaml", "--report", str(html))
    return smoke_run, html


def test_report_renders_every_smoke_figure_with_its_caption(smoke_report):
    work, html = smoke_report
    assert html.stat().st_size > 0
    results = report_results(html.read_text())
    wf = inspect(work, "config/smoke.yaml")
    figs = figures(wf)
    assert figs
    for fig in figs:
        assert fig in results, f"{fig} is not in the report (has: {sorted(results)[:10]})"
        item = results[fig]
        assert item["caption"].strip(), f"{fig} has an empty caption"
        embedded = base64.b64decode(item["data_uri"].split(";base64,", 1)[1])
        assert embedded == (work / fig).read_bytes(), f"{fig}: the report embeds different bytes"
