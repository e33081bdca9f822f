"""``idxtool inspect``: human view, JSON, stats, record preview, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import idxtool
from idxtool.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_human_view_names_everything(mnist_images: Path) -> None:
    code, out, err = run("inspect", str(mnist_images))
    assert code == 0, err
    for expected in [
        str(mnist_images),
        "gzip",
        "uint8 (0x08)",
        "10000 x 28 x 28",
        "10,000",
        "7,840,016 bytes",
        "1,648,877 bytes",
        "ok, matches the header",
    ]:
        assert expected in out
    assert err == ""


def test_json_single_and_several(mnist_images: Path, qmnist_int_labels: Path) -> None:
    code, out, _ = run("inspect", "--json", str(qmnist_int_labels))
    assert code == 0
    doc = json.loads(out)
    assert doc["path"] == str(qmnist_int_labels)
    assert (doc["dtype"], doc["shape"], doc["compression"]) == ("int32", [60000, 8], "gzip")
    assert doc["type_code"] == "0x0C" and doc["body_ok"] is True
    code, out, _ = run("inspect", "--json", str(mnist_images), str(qmnist_int_labels))
    docs = json.loads(out)
    assert [d["path"] for d in docs] == [str(mnist_images), str(qmnist_int_labels)]


def test_stats_stream_exact_values(mnist_images: Path, mnist_labels: Path) -> None:
    code, out, _ = run("inspect", "--json", "--stats", str(mnist_images), str(mnist_labels))
    assert code == 0
    images, labels = json.loads(out)
    pixels = idxtool.read(mnist_images).astype(np.float64)
    assert images["stats"]["min"] == 0 and images["stats"]["max"] == 255
    assert images["stats"]["mean"] == pytest.approx(pixels.mean(), rel=1e-12)
    assert images["stats"]["std"] == pytest.approx(pixels.std(), rel=1e-9)
    assert "value_counts" not in images["stats"]
    assert labels["stats"]["value_counts"] == {
        "0": 980,
        "1": 1135,
        "2": 1032,
        "3": 1010,
        "4": 982,
        "5": 892,
        "6": 958,
        "7": 1028,
        "8": 974,
        "9": 1009,
    }


def test_stats_table_has_bars(mnist_labels: Path) -> None:
    code, out, _ = run("inspect", "--stats", str(mnist_labels))
    assert code == 0
    line = next(l for l in out.splitlines() if l.strip().startswith("1 ") and "1,135" in l)
    assert "11.3%" in line and "█" * 30 in line


def test_show_renders_image_with_label(mnist_images: Path, mnist_labels: Path) -> None:
    code, out, _ = run("inspect", str(mnist_images), str(mnist_labels), "--show", "0", "--show", "1")
    assert code == 0
    assert "record 0  label 7" in out and "record 1  label 2" in out
    art = out.split("record 0  label 7")[1].split("record 1")[0]
    assert len([l for l in art.splitlines() if l.strip()]) >= 8  # a digit drawn in half blocks
    assert set(art) <= set(" ▀▄█\n")


def test_show_json_gives_record_values(mnist_images: Path, mnist_labels: Path) -> None:
    _code, out, _ = run("inspect", "--json", str(mnist_images), str(mnist_labels), "--show", "-1")
    images = json.loads(out)[0]
    shown = images["show"][0]
    assert shown["index"] == 9999 and shown["label"] == int(idxtool.read(mnist_labels)[-1])
    assert np.array_equal(np.array(shown["data"]), idxtool.read(mnist_images)[-1])


def test_show_out_of_range_is_a_usage_error(mnist_labels: Path) -> None:
    code, _, err = run("inspect", str(mnist_labels), "--show", "10000")
    assert code == 2
    assert err == f"Error: {mnist_labels}: record 10000 out of range (file has 10,000 records)\n"


def test_invalid_file_exits_1_naming_it(tmp_path: Path, mnist_labels: Path) -> None:
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    code, out, err = run("inspect", str(mnist_labels), str(bad))
    assert code == 1
    assert str(mnist_labels) in out  # the good file is still shown
    assert err == f"Error: {bad}: body is shorter than the header says: 3 bytes, header declares 5 uint8 = 5 bytes\n"


def test_invalid_file_in_json_mode(tmp_path: Path) -> None:
    bad = tmp_path / "empty.idx"
    bad.write_bytes(b"")
    code, out, err = run("inspect", "--json", str(bad))
    assert code == 1
    assert json.loads(out) == {"path": str(bad), "error": f"{bad}: file is empty", "body_ok": False}
    assert err == f"Error: {bad}: file is empty\n"


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = run("inspect", str(tmp_path / "nope.gz"))
    assert code == 2
    assert err == f"Error: {tmp_path / 'nope.gz'}: no such file or registered dataset\n"


def test_no_traceback_even_for_verbose_free_runs(tmp_path: Path) -> None:
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    proc = subprocess.run([sys.executable, "-m", "idxtool", "inspect", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {bad}: compressed stream is")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_startup_stays_light(mnist_labels: Path) -> None:
    """`idxtool --help` and a header-level inspect import neither requests nor PIL."""
    code = (
        "import sys\n"
        "from idxtool.cli import main\n"
        "for argv in (['--help'], ['inspect', sys.argv[1]]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "heavy = sorted(m for m in ('requests', 'PIL', 'urllib3', 'filelock') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(mnist_labels)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"
