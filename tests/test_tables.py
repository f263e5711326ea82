"""The summary tables' Markdown shows exactly what their CSV holds, as pandas' `to_markdown` writes it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advcompress.cli import main
from tests.conftest import read_markdown


def _clean_rows(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"codec": codec, "family": family, "quality": q, "image": f"im{i}", "bpp_est": 0.3 * (k + 1),
             "bpp_actual": 0.3 * (k + 1) * rng.uniform(0.8, 1.2), "mse255": 100 / (k + 1) * rng.uniform(0.8, 1.2),
             "psnr_db": 25 + 3 * k + rng.uniform(0, 1), "ms_ssim": math.nan if codec == "webp" else 0.9,
             "encode_s": 1e-5 * rng.uniform(1, 2), "decode_s": 123456.789, "error": ""}
            for codec, family in [("jpeg", "classic"), ("webp", "classic")] for k, q in enumerate([10, 50, 90])
            for i in range(3)]
    rows[0]["error"] = "boom"  # one invalid row: counted in n_invalid
    return pd.DataFrame(rows)


def test_rd_table_markdown_holds_the_csv_values_at_four_digits(tmp_path):
    _clean_rows().to_csv(tmp_path / "rows.csv", index=False)
    main(["rd-table", str(tmp_path / "rows.csv"), "--out-csv", str(tmp_path / "t.csv"),
          "--out-md", str(tmp_path / "t.md")])
    csv = pd.read_csv(tmp_path / "t.csv")
    text = (tmp_path / "t.md").read_text()
    md = read_markdown(text)

    def cell(v) -> str:
        return ("nan" if math.isnan(v) else format(v, ".4g")) if isinstance(v, float) else str(v)

    expected = csv.astype(object).map(cell)
    assert list(md.columns) == list(csv.columns)  # no index column
    pd.testing.assert_frame_equal(md, expected.astype(str))
    assert (md["ms_ssim"] == "nan").sum() == 3 and "1.235e+05" in set(md["decode_s"])
    assert text.endswith(" |\n")  # a text file: its last line ends
