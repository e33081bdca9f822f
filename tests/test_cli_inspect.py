"""``idxtool inspect``: human view, JSON, stats, record preview, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


@pytest.fixture
def qmnist_manifest(qmnist_int_labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user manifest for ``myq``: QMNIST's real extended test labels (served by file://), with field names."""
    import hashlib
    import shutil

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(qmnist_int_labels, served / qmnist_int_labels.name)
    fields = ["class", "hsf_series", "writer_id", "writer_digit_index"]
    fields += ["nist_class_code", "nist_digit_index", "duplicate", "unused"]
    (tmp_path / "q.toml").write_text(
        f'name = "myq"\nurls = ["{served.as_uri()}/"]\nlabel_column = 0\nlabel_fields = {json.dumps(fields)}\n'
        f'[[files]]\nname = "{qmnist_int_labels.name}"\nsplit = "test"\nkind = "labels"\n'
        f'sha256 = "{hashlib.sha256(qmnist_int_labels.read_bytes()).hexdigest()}"\n'
    )
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(tmp_path / "q.toml"))
    return "myq"


def test_stats_on_extended_labels_are_per_column_by_field_name(qmnist_manifest: str, qmnist_int_labels: Path) -> None:
    table = idxtool.read(qmnist_int_labels)
    code, out, err = run("inspect", "--json", "--stats", qmnist_manifest)
    assert code == 0, err
    doc = json.loads(out)
    names = [c["name"] for c in doc["columns"]]
    assert names[:3] == ["class", "hsf_series", "writer_id"] and len(names) == 8
    for i, column in enumerate(doc["columns"]):
        assert (column["min"], column["max"]) == (table[:, i].min(), table[:, i].max())
        assert column["mean"] == pytest.approx(table[:, i].mean(), rel=1e-12)
        assert column["std"] == pytest.approx(table[:, i].std(), rel=1e-9)
        assert column["distinct"] == len(np.unique(table[:, i]))
    assert doc["columns"][0]["value_counts"] == {str(k): int(v) for k, v in enumerate(np.bincount(table[:, 0]))}
    assert doc["stats"]["count"] == table.size and doc["stats"]["max"] == table.max()
    assert doc["stats"]["mean"] == pytest.approx(table.mean(), rel=1e-12)
    assert doc["stats"]["std"] == pytest.approx(table.std(), rel=1e-9)
    # The human view: one row per field, named; a plain path gets column numbers.
    code, out, _ = run("inspect", "--stats", qmnist_manifest)
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["writer_id"][1:3] == [str(table[:, 2].min()), str(table[:, 2].max())]
    assert rows["nist_digit_index"][-1] == "60,000"
    _, out, _ = run("inspect", "--stats", str(qmnist_int_labels))
    assert "column 5" in out and "writer_id" not in out


def test_stats_with_many_distinct_values_lists_the_most_frequent(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.integers(0, 300_000, 400_000), np.full(50, 123_456_789)]).astype(np.int32)
    path = tmp_path / "many-idx1-int"
    idxtool.write(path, values)
    start = time.perf_counter()
    code, out, err = run("inspect", "--stats", str(path))
    elapsed = time.perf_counter() - start
    assert code == 0, err
    uniq, counts = np.unique(values, return_counts=True)
    assert len(out.splitlines()) < 60 and elapsed < 10
    assert f"most frequent of {len(uniq):,} distinct values" in out
    top = next(l for l in out.splitlines() if l.split() and l.split()[0] == "123456789")
    assert top.split()[1] == "50"
    rest = next(l for l in out.splitlines() if "others" in l).split()
    _, doc, _ = run("inspect", "--json", "--stats", str(path))
    stats = json.loads(doc)["stats"]
    assert stats["distinct"] == len(uniq) and len(stats["value_counts"]) == 20
    assert next(iter(stats["value_counts"])) == "123456789"
    assert stats["other_values"] == len(uniq) - 20 and rest[0] == f"{len(uniq) - 20:,}"
    assert stats["other_count"] + sum(stats["value_counts"].values()) == len(values)
    assert sorted(stats["value_counts"].values(), reverse=True) == list(stats["value_counts"].values())
    assert min(stats["value_counts"].values()) >= np.sort(counts)[-20]


def test_stats_memory_is_bounded_by_the_chunk_not_the_record(tmp_path: Path) -> None:
    """One 64 MB record: --stats never holds it as float64 (512 MB); peak RSS stays far below."""
    path = tmp_path / "big-idx3-ubyte"
    rng = np.random.default_rng(1)
    idxtool.write(path, rng.integers(0, 256, (1, 8192, 8192), dtype=np.uint8))
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc/self/status (VmHWM: this process's own peak, not one inherited across exec)")
    code = (
        "import sys, json\n"
        "from idxtool.describe import describe\n"
        "d = describe(sys.argv[1], stats=True)\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]\n"
        "print(json.dumps([d['stats']['count'], int(hwm)]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    count, peak_kb = json.loads(proc.stdout)
    assert count == 8192 * 8192
    assert peak_kb < 200_000, f"peak RSS {peak_kb} kB"


def test_a_path_is_never_folded_at_any_width(mnist_labels: Path, tmp_path: Path) -> None:
    folder = tmp_path / ("a-rather-long-folder-name-" * 3) / "more"
    folder.mkdir(parents=True)
    path = folder / mnist_labels.name
    path.write_bytes(mnist_labels.read_bytes())
    for columns in ("40", "80"):
        proc = subprocess.run(
            [sys.executable, "-m", "idxtool", "inspect", "--stats", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": columns},
        )
        assert proc.returncode == 0, proc.stderr
        assert str(path) in proc.stdout.splitlines()


def test_show_draws_transposed_datasets_upright(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset stored transposed (EMNIST's way) is drawn as load gives it, not as stored."""
    import hashlib

    sample = Path(idxtool.__file__).parent / "data" / "mnist-sample"
    served = tmp_path / "served"
    served.mkdir()
    image = idxtool.read(sample / "sample-images-idx3-ubyte.gz")
    idxtool.write(served / "t-images-idx3-ubyte.gz", np.ascontiguousarray(image.swapaxes(1, 2)), compression="gzip")
    data = (served / "t-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t.toml").write_text(
        f'name = "tr"\nurls = ["{served.as_uri()}/"]\ntranspose = true\n'
        f'[[files]]\nname = "t-images-idx3-ubyte.gz"\nsplit = "test"\nkind = "images"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\n'
    )
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(tmp_path / "t.toml"))
    code, out, err = run("inspect", "--json", "tr", "--show", "3")
    assert code == 0, err
    shown = np.array(json.loads(out)["show"][0]["data"])
    ((x, _),) = idxtool.load("tr")
    assert np.array_equal(shown, image[3]) and np.array_equal(shown, x[3])
    _, art, _ = run("inspect", "tr", "--show", "3")
    _, upright, _ = run("inspect", str(sample / "sample-images-idx3-ubyte.gz"), "--show", "3")
    assert art.split("record 3")[1] == upright.split("record 3")[1]


def test_header_only_report_equals_the_full_readers(
    mnist_images: Path, mnist_labels: Path, qmnist_int_labels: Path, tmp_path: Path
) -> None:
    """The numpy-free header path gives the same report as the streaming reader, and its errors."""
    from idxtool.describe import describe
    from idxtool.sources import resolve

    raw = tmp_path / "raw-idx1-ubyte"
    idxtool.write(raw, idxtool.read(mnist_labels))
    xz = tmp_path / "labels.xz"
    idxtool.write(xz, idxtool.read(mnist_labels), compression="xz")
    ref = resolve("mnist-sample:test[10:20]")
    for path, selection in [(mnist_images, None), (mnist_labels, ref.selection), (qmnist_int_labels, None)]:
        for p, sel in [(path, selection), (raw, None), (xz, None)]:
            quick = describe(p, selection=sel, fields=tuple("abcdefgh"))
            full = describe(p, selection=sel, fields=tuple("abcdefgh"), stats=True)
            full.pop("stats")
            full.pop("columns", None)
            assert quick == full
    # Anything off goes to the full reader, whose message is the one reported.
    long = tmp_path / "long-idx1-ubyte"
    long.write_bytes(raw.read_bytes() + b"x")
    with pytest.raises(idxtool.InvalidIdxError, match="body is longer than the header says"):
        describe(long)
