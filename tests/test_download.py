"""Checked downloads without the network: file:// URLs, a refused port and a silent local server."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import socket

import pytest
import torch

from advcompress import classifiers, download
from advcompress.cli import main
from advcompress.codecs.base import load_state
from advcompress.codecs.learned import ARCHITECTURES, architecture, build_net
from advcompress.errors import DataError

REFUSED = "http://127.0.0.1:9/file.bin"  # the discard port: refused at once, as offline


def _src(tmp_path, data=b"kodak stand-in bytes", name="src.bin"):
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(data)
    return src


@pytest.mark.parametrize("pin", [lambda b: f"sha256:{hashlib.sha256(b).hexdigest()}",
                                 lambda b: f"sha256:{hashlib.sha256(b).hexdigest()[:8]}",
                                 lambda b: f"md5:{hashlib.md5(b).hexdigest().upper()}"])
def test_fetch_lands_the_verified_bytes(tmp_path, pin):
    src = _src(tmp_path)
    got = download.fetch_url(src.as_uri(), tmp_path / "dl" / "a.bin", pin(src.read_bytes()), retries=1)
    assert got.read_bytes() == src.read_bytes()
    assert [p.name for p in got.parent.iterdir()] == ["a.bin"]


@pytest.mark.parametrize("algo", ["sha256", "md5"])
def test_a_wrong_checksum_is_a_clear_error_and_leaves_nothing(tmp_path, algo):
    src = _src(tmp_path)
    want = hashlib.new(algo, b"other bytes").hexdigest()
    with pytest.raises(DataError, match=f"{algo} is {hashlib.new(algo, src.read_bytes()).hexdigest()}, expected {want}"):
        download.fetch_url(src.as_uri(), tmp_path / "dl" / "b.bin", f"{algo}:{want}", retries=1)
    assert not list((tmp_path / "dl").iterdir())  # neither the file nor a partial one


@pytest.mark.parametrize("pin", ["sha256:00ff", "md5:" + "0" * 31, "crc32:0000abcd", "sha256:xyz0xyz0"])
def test_a_malformed_pin_is_named_before_any_download(tmp_path, pin):
    with pytest.raises(DataError, match="must be 'sha256:<8 to 64 hex digits>' or 'md5:<32 hex digits>'"):
        download.fetch_url(REFUSED, tmp_path / "c.bin", pin, retries=1)


def test_a_file_placed_by_hand_is_verified_not_downloaded(tmp_path):
    placed = _src(tmp_path, name="placed.bin")
    ok = f"sha256:{hashlib.sha256(placed.read_bytes()).hexdigest()}"
    assert download.fetch_url(REFUSED, placed, ok, retries=1) == placed
    with pytest.raises(DataError, match="placed.bin: sha256 is .* not the pinned one"):
        download.fetch_url(REFUSED, placed, f"sha256:{'0' * 64}", retries=1)
    assert placed.exists()  # the user's file stays for them to inspect


def test_offline_error_names_the_url_and_where_to_place_the_file(tmp_path):
    dest = tmp_path / "dl" / "d.bin"
    pin = f"sha256:{'a' * 64}"
    with pytest.raises(DataError) as e:
        download.fetch_url(REFUSED, dest, pin, retries=1)
    assert str(e.value).startswith(f"cannot download {REFUSED} (")
    assert str(e.value).endswith(f"place the file by hand at {dest} (it must match {pin})")
    assert not list(dest.parent.iterdir())


class Hung(Exception):
    pass


def test_a_silent_server_times_out_instead_of_hanging(tmp_path):
    def hung(*_):
        raise Hung("the fetch waited 10 s on a server that never answers")

    previous = signal.signal(signal.SIGALRM, hung)  # a hang fails this test instead of the suite
    signal.alarm(10)
    try:
        with socket.socket() as server:  # accepts the connection (backlog) and never answers
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            url = f"http://127.0.0.1:{server.getsockname()[1]}/stalled.bin"
            with pytest.raises(DataError, match="cannot download .*timed out"):
                download.fetch_url(url, tmp_path / "e.bin", retries=1, timeout=0.5)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert socket.getdefaulttimeout() is None  # the process-wide default is restored


def test_published_names_pin_their_sha256_prefix():
    assert download.name_hash_prefix(architecture("bmshj2018-hyperprior").pretrained_url(3)) == "6d87be32"
    assert download.name_hash_prefix(architecture("mbt2018-mean-vbr").pretrained_url(1)) == "45d095e9"
    assert all(len(download.name_hash_prefix(u)) == 8 for u in classifiers.TORCHVISION_WEIGHTS.values())
    assert download.name_hash_prefix(architecture("stf").pretrained_url(1)) is None  # Google Drive: by hand


def _published(tmp_path, stem: str, suffix: str, prefix: str | None = None):
    """A small real state dict saved under a published-style name `<stem>-<sha256 prefix><suffix>`."""
    net = build_net("bmshj2018-factorized", 1, {"N": 8, "M": 8})
    raw = tmp_path / "raw.pt"
    torch.save(net.state_dict(), raw)
    name = f"{stem}-{prefix or hashlib.sha256(raw.read_bytes()).hexdigest()[:8]}{suffix}"
    src = _src(tmp_path, raw.read_bytes(), name)
    return net, src.as_uri()


def test_fetch_weights_lands_a_checkpoint_that_loads_weights_only(tmp_path, monkeypatch):
    net, url = _published(tmp_path, "bmshj2018-factorized-prior-1", ".pth.tar")
    arch = architecture("bmshj2018-factorized")
    monkeypatch.setitem(ARCHITECTURES, arch.name, dataclasses.replace(arch, pretrained_url=lambda q: url))
    out = tmp_path / "weights" / "q1.pth.tar"
    main(["fetch-weights", "--model", arch.name, "--quality", "1", "--out", str(out)])
    state = load_state(out)  # torch.load(..., weights_only=True)
    assert state.keys() == net.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    _, bad = _published(tmp_path, "bmshj2018-factorized-prior-2", ".pth.tar", prefix="deadbeef")
    monkeypatch.setitem(ARCHITECTURES, arch.name, dataclasses.replace(arch, pretrained_url=lambda q: bad))
    with pytest.raises(SystemExit):
        main(["fetch-weights", "--model", arch.name, "--quality", "2", "--out", str(out.with_name("q2.pth.tar"))])
    assert [p.name for p in out.parent.iterdir()] == ["q1.pth.tar"]


def test_fetch_classifier_with_a_wrong_name_pin_leaves_nothing(tmp_path, monkeypatch, capsys):
    _, url = _published(tmp_path, "resnet50", ".pth", prefix="deadbeef")
    monkeypatch.setitem(classifiers.TORCHVISION_WEIGHTS, "resnet50", url)
    out = tmp_path / "weights" / "resnet50.pth"
    with pytest.raises(SystemExit) as e:
        main(["classify-fetch-classifier", "--arch", "resnet50", "--out", str(out)])
    assert e.value.code == 2 and "expected deadbeef" in capsys.readouterr().err
    assert not list(out.parent.iterdir())


def test_a_refetch_must_match_the_manifest_of_the_first_fetch(tmp_path):
    """Kodak and DIV2K publish no checksum: the manifest of the first fetch pins every later one."""
    from advcompress.data import fetch_dataset

    src = _src(tmp_path, name="kodim01.png")
    spec = {"files": {"kodim01.png": {"url": src.as_uri(), "checksum": None}}, "retries": 1}
    out = tmp_path / "paper" / "eval"
    fetch_dataset(out, spec, tmp_path / "cache")
    src.write_bytes(b"the server now serves other bytes")
    (tmp_path / "cache" / "kodim01.png").unlink()
    with pytest.raises(DataError, match=r"kodim01.png: sha256 is .* \(recorded in .*manifest.json on first fetch\)"):
        fetch_dataset(out, spec, tmp_path / "cache")
    assert (out / "kodim01.png").read_bytes() == b"kodak stand-in bytes"  # the first fetch stays whole
