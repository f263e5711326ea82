"""CUDA-safe by construction: tensors leave the device only through `advcompress.device`.

`.numpy()` on a CUDA tensor raises, and `.item()` / `.tolist()` in a loop is one host sync per
element; `to_numpy` / `to_python` detach, move to the CPU once, and are the only place that calls
them. The scan reads the syntax tree of every module in `src/`, so comments, docstrings and
strings never count.
"""

import ast
from pathlib import Path

import torch

from advcompress.device import to_numpy, to_python
from tests.conftest import ROOT

SRC = ROOT / "src" / "advcompress"
CONVERSIONS = {"numpy", "tolist", "item"}

# Calls that stay, each with why: (path under src/advcompress, source text of the call).
ALLOWED = {
    # JSON encoder fallback for numpy scalars (np.generic), never a tensor
    ("io.py", "o.item()"),
}


def bare_conversions(root: Path) -> list[tuple[str, int, str]]:
    """(path, line, call) of every `<expr>.numpy()`, `.tolist()`, `.item()` under `root`, except in
    device.py (where the helpers live) and the allow-list."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "device.py":
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in CONVERSIONS and not node.args and not node.keywords):
                call = ast.get_source_segment(source, node)
                if (rel, call) not in ALLOWED:
                    found.append((rel, node.lineno, call))
    return sorted(found)


def test_no_bare_tensor_conversions_in_src():
    found = bare_conversions(SRC)
    assert not found, "use advcompress.device.to_numpy / to_python instead of:\n" + "\n".join(
        f"  src/advcompress/{p}:{line}: {call}" for p, line, call in found)


def test_allow_list_entries_still_exist():
    """A stale entry would silently allow a new call with the same text."""
    for rel, call in ALLOWED:
        assert call in (SRC / rel).read_text(), (rel, call)


def test_scan_catches_the_known_crash_and_ignores_text(tmp_path):
    """The calls attack/run.py made on device tensors (the CUDA crash of issue 15) are caught;
    the same words in a comment, a docstring or a string are not, and neither are the helpers."""
    (tmp_path / "run.py").write_text(
        'gallery = {"clean": x[g_img].numpy().astype(np.float16)}\n'
        'gallery["ddist"] = d_dist.numpy().astype(np.float32)\n'
        "rows = [v.item() for v in terms.values()]\n"
        "cdf = gc.quantized_cdf.tolist()\n"
    )
    (tmp_path / "clean.py").write_text(
        '"""Docstring mentioning x.numpy() and y.item()."""\n'
        "# a comment with z.tolist()\n"
        'msg = "t.numpy()"\n'
        "arr = to_numpy(x)\n"
        "vals = to_python(t)\n"
    )
    (tmp_path / "device.py").write_text("def to_numpy(t):\n    return t.detach().cpu().numpy()\n")
    found = bare_conversions(tmp_path)
    assert [(p, line) for p, line, _ in found] == [("run.py", n) for n in (1, 2, 3, 4)]


def test_helpers_detach_and_move_to_the_host():
    t = torch.arange(6.0, requires_grad=True).view(2, 3) * 2
    a = to_numpy(t)
    assert a.shape == (2, 3) and a[1, 2] == 10.0
    assert to_python(t) == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    assert to_python(t.sum()) == 30.0 and isinstance(to_python(t.sum()), float)
    assert to_python(torch.tensor(3)) == 3 and isinstance(to_python(torch.tensor(3)), int)
    assert to_python(torch.tensor([True, False])) == [True, False]
