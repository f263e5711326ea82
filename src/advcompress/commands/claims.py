"""`advcompress claims`: every paper's headline claims checked against this run's long tables."""

from __future__ import annotations

import argparse
import logging

from advcompress.cli import registry_names, settings_of

log = logging.getLogger("advcompress")


def read_tables(specs: list[str]) -> dict:
    """`kind=path` arguments -> {kind: concatenated long table}; a kind given no file is absent.

    A job with nothing to report may write a file without columns (e.g. no downstream trigger):
    it reads as no rows, so its claims say so instead of the job failing.
    """
    import pandas as pd

    from advcompress.io import read_table

    def read(path):
        try:
            return read_table(path)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()

    paths: dict[str, list[str]] = {}
    for spec in specs:
        kind, _, path = table_spec(spec).partition("=")
        paths.setdefault(kind, []).append(path)
    return {kind: pd.concat([read(p) for p in ps], ignore_index=True) for kind, ps in paths.items()}


TABLE_KINDS = registry_names("table kind", "advcompress.claims", "TABLE_KINDS", "KIND")


def table_spec(spec: str) -> str:
    """`--table KIND=PATH` with KIND one of advcompress.claims.TABLE_KINDS; checked when parsed."""
    kind, sep, path = spec.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expects KIND=PATH, got {spec!r}")
    if kind not in TABLE_KINDS:
        raise argparse.ArgumentTypeError(TABLE_KINDS.unknown(kind))
    return spec


def cmd_claims(a) -> None:
    from advcompress.claims import evaluate_all, to_frame, to_markdown
    from advcompress.io import write_table, write_text

    results = evaluate_all(read_tables(a.table or []), settings_of(a))
    df = to_frame(results)
    write_table(a.out_csv, df)
    write_text(a.out_md, to_markdown(df))
    for cid, r in results.items():
        log.info("%s: %s (%s)", cid, r.verdict, r.note)


def register(add) -> None:
    sp = add("claims", cmd_claims)
    sp.add_argument("--table", action="append", type=table_spec, metavar="KIND=PATH",
                    help="a long table and its kind (advcompress.claims.TABLE_KINDS); repeat per file")
    sp.add_argument("--out-csv", required=True, help="output: one row per claim and group (CSV)")
    sp.add_argument("--out-md", required=True, help="output: the verdicts as Markdown")
