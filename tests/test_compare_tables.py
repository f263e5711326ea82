"""benchmark/compare_tables.py, the check that a refactoring left every table of a run as it was."""

import math

import pandas as pd

from benchmark.compare_tables import compare, main


def _run(root, tables):
    for rel, df in tables.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(root / rel, index=False)
    return root


TABLES = {"attack/table2.csv": pd.DataFrame({"model": ["a", "b"], "mu": [0.1, math.nan], "n": [1, 2]}),
          "rd_clean.csv": pd.DataFrame({"codec": ["jpeg"], "psnr_db": [31.25]})}


def test_equal_runs_are_equal_and_nan_equals_nan(tmp_path, capsys):
    a, b = _run(tmp_path / "a", TABLES), _run(tmp_path / "b", TABLES)
    assert compare(a, b) == []
    assert main([str(a), str(b)]) == 0 and "2 tables, all equal" in capsys.readouterr().out


def test_a_changed_value_a_missing_table_and_reordered_columns_are_each_reported(tmp_path, capsys):
    a = _run(tmp_path / "a", TABLES)
    changed = {**TABLES, "rd_clean.csv": pd.DataFrame({"codec": ["jpeg"], "psnr_db": [31.250001]})}
    assert compare(a, _run(tmp_path / "b", changed)) == [
        "rd_clean.csv: column 'psnr_db', row 0: 31.25 against 31.250001 (1 rows differ)"]
    assert compare(a, _run(tmp_path / "c", {"rd_clean.csv": TABLES["rd_clean.csv"]})) == [
        f"attack/table2.csv: only in {a}"]
    swapped = {**TABLES, "attack/table2.csv": TABLES["attack/table2.csv"][["model", "n", "mu"]]}
    assert compare(a, _run(tmp_path / "d", swapped)) == [
        "attack/table2.csv: columns differ: same set, other order"]
    assert main([str(a), str(tmp_path / "b")]) == 1 and "rd_clean.csv" in capsys.readouterr().out


def test_a_folder_without_tables_is_a_user_error(tmp_path, capsys):
    a = _run(tmp_path / "a", TABLES)
    (tmp_path / "empty").mkdir()
    assert main([str(a), str(tmp_path / "empty")]) == 2
    assert main([str(tmp_path / "missing"), str(a)]) == 2
    assert "is not a folder holding CSV files" in capsys.readouterr().err


def test_ignored_columns_are_left_out_and_the_others_still_compared(tmp_path, capsys):
    """Measured times differ between any two runs; --ignore drops them, not the values beside them."""
    timed = {"rd_clean.csv": pd.DataFrame({"codec": ["jpeg"], "psnr_db": [31.25], "encode_s": [0.01]})}
    a = _run(tmp_path / "a", timed)
    slower = _run(tmp_path / "b", {"rd_clean.csv": timed["rd_clean.csv"].assign(encode_s=0.03)})
    assert main([str(a), str(slower), "--ignore", "encode_s"]) == 0
    assert "1 tables, all equal but for encode_s" in capsys.readouterr().out
    both = _run(tmp_path / "c", {"rd_clean.csv": timed["rd_clean.csv"].assign(encode_s=0.03, psnr_db=30.0)})
    assert compare(a, both, ("encode_s",)) == ["rd_clean.csv: column 'psnr_db', row 0: 31.25 against 30.0 (1 rows differ)"]
    assert len(compare(a, both)[0].split("; ")) == 2  # without --ignore, both columns are named
