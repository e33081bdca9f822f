"""Shared fixtures: the real published IDX files in ../shared/datasets, and small builders.

Tests that need the real files skip with a reason when the folder is absent (a user's own
clone). CI sets IDXTOOL_REQUIRE_SHARED=1, which turns that absence into a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

#: Fixtures of the fault-injecting HTTP server (server, fast_network, logs), for every test.
pytest_plugins = ["http_server"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IDXTOOL_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("IDXTOOL_REQUIRE_SHARED") == "1" and not SHARED.is_dir():
        raise pytest.UsageError(f"IDXTOOL_REQUIRE_SHARED=1 but {SHARED} is missing")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The folder of real published dataset files (skips when absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"real dataset files not found at {SHARED} (clone with ../shared beside it)")
    return SHARED


@pytest.fixture(scope="session")
def mnist_images(shared: Path) -> Path:
    """Real MNIST test images: 10000 x 28 x 28 uint8, gzip."""
    return shared / "mnist" / "t10k-images-idx3-ubyte.gz"


@pytest.fixture(scope="session")
def mnist_labels(shared: Path) -> Path:
    """Real MNIST test labels: 10000 uint8, gzip."""
    return shared / "mnist" / "t10k-labels-idx1-ubyte.gz"


@pytest.fixture(scope="session")
def qmnist_int_labels(shared: Path) -> Path:
    """Real QMNIST extended test labels: 60000 x 8 int32 (type 0x0C), gzip."""
    return shared / "qmnist" / "qmnist-test-labels-idx2-int.gz"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache root and no user registry or mirror: never the real cache."""
    home = tmp_path / "idxtool-home"
    monkeypatch.setenv("IDXTOOL_HOME", str(home))
    monkeypatch.delenv("IDXTOOL_REGISTRY", raising=False)
    monkeypatch.delenv("IDXTOOL_MIRROR", raising=False)
    return home


def ci_script(name: str) -> ModuleType:
    """Import a script from .ci/ (generate.py, readme_command.py) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
