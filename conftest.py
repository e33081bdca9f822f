"""Doctests of the package: the Examples in idxtool's docstrings run as tests.

Each example gets ``tmp`` (an empty folder), ``np`` and ``idxtool``, and an empty cache
root, never the user's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import idxtool


@pytest.fixture(autouse=True)
def _doctest_namespace(
    request: pytest.FixtureRequest,
    doctest_namespace: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.setenv("IDXTOOL_HOME", str(tmp_path / "idxtool-home"))
        monkeypatch.delenv("IDXTOOL_REGISTRY", raising=False)
        monkeypatch.delenv("IDXTOOL_MIRROR", raising=False)
        doctest_namespace.update(tmp=tmp_path, np=np, idxtool=idxtool)
