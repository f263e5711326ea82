"""Are two runs' tables the same? Every CSV under DIR_A against the same path under DIR_B.

    .venv/bin/python benchmark/compare_tables.py DIR_A DIR_B [--ignore COLUMN ...]

A refactoring that changes no science (issue 17 moved the attack, defense and foundation code into
packages) must leave every table as it was: the same files, the same columns in the same order and
the same values as pandas parses them, exactly (NaN equals NaN). Measured times (the RD table's
`encode_s`, `decode_s`) differ between any two runs; `--ignore` leaves such columns out, and the
rest must still match. One line per file that differs or exists on one side only; exit status 0 when all are equal, 1 when any differs, 2 for a folder that
does not exist or holds no CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def csv_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.csv")}


def difference(a: Path, b: Path, ignore: tuple[str, ...] = ()) -> str | None:
    """None when the two CSVs hold the same table exactly (but for the `ignore` columns), else the
    columns that differ, with the first differing value of each."""
    ta, tb = pd.read_csv(a), pd.read_csv(b)
    if list(ta.columns) != list(tb.columns):
        return f"columns differ: {sorted(set(ta.columns) ^ set(tb.columns)) or 'same set, other order'}"
    if ta.shape != tb.shape:
        return f"shape {ta.shape} against {tb.shape}"
    found = []
    for col in (c for c in ta.columns if c not in ignore):
        x, y = ta[col], tb[col]
        same = (x == y) | (x.isna() & y.isna())
        if not same.all():
            i = int((~same).to_numpy().nonzero()[0][0])
            found.append(f"column {col!r}, row {i}: {x.iloc[i]!r} against {y.iloc[i]!r} ({int((~same).sum())} rows differ)")
    return "; ".join(found) or None


def compare(dir_a: Path, dir_b: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """One line per CSV that differs or is missing on one side; empty when the tables are the same."""
    fa, fb = csv_files(dir_a), csv_files(dir_b)
    lines = [f"{f}: only in {dir_a}" for f in sorted(fa - fb)] + [f"{f}: only in {dir_b}" for f in sorted(fb - fa)]
    for f in sorted(fa & fb):
        why = difference(dir_a / f, dir_b / f, ignore)
        if why:
            lines.append(f"{f}: {why}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir_a", type=Path, help="one run's tables folder (every CSV beneath it is compared)")
    p.add_argument("dir_b", type=Path, help="the other run's tables folder")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                   help="a column left out of the comparison, such as a measured time (repeatable)")
    a = p.parse_args(argv)
    for d in (a.dir_a, a.dir_b):
        if not d.is_dir() or not csv_files(d):
            print(f"compare_tables: {d} is not a folder holding CSV files", file=sys.stderr)
            return 2
    lines = compare(a.dir_a, a.dir_b, tuple(a.ignore))
    but = f" but for {', '.join(a.ignore)}" if a.ignore else ""
    print("\n".join(lines) if lines else f"{len(csv_files(a.dir_a))} tables, all equal{but}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
