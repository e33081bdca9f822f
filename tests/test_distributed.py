"""Distributed engines read what idxtool wrote to a real S3 server: Dask (on a LocalCluster) and WebDataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from s3_server import Bucket, s3, s3_server  # noqa: F401  # fixtures

import idxtool
from idxtool.cli import main


@pytest.fixture(scope="module")
def mnist(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    return idxtool.read(shared / "mnist" / "t10k-images-idx3-ubyte.gz"), idxtool.read(
        shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )


def convert_to(s3: Bucket, fmt: str, shards: int, images: Path, labels: Path) -> str:
    url = f"{s3.url}/{fmt}/"
    args = ["convert", str(images), str(labels), "--to", fmt, "-o", url, "--shards", str(shards)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert s3.fs().exists(f"{s3.name}/{fmt}/_SUCCESS")
    return url


def storage_options(s3: Bucket) -> dict[str, Any]:
    env = s3.server.env()
    return {
        "key": env["AWS_ACCESS_KEY_ID"],
        "secret": env["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": env["AWS_ENDPOINT_URL"]},
    }


def test_dask_on_a_local_cluster_counts_the_classes_of_parquet_on_s3(
    s3: Bucket, mnist_images: Path, mnist_labels: Path, mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    url = convert_to(s3, "parquet", 3, mnist_images, mnist_labels)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        df = dd.read_parquet(f"{url}data/", columns=["label"], storage_options=storage_options(s3))
        assert df.npartitions == 3
        counts = client.compute(df["label"].value_counts()).result()
        assert len(client.scheduler_info()["workers"]) == 2
    expected = np.bincount(mnist[1], minlength=10)
    assert {int(k): int(v) for k, v in counts.items()} == {i: int(n) for i, n in enumerate(expected)}


def test_webdataset_streams_every_image_exact_from_s3(
    s3: Bucket,
    mnist_images: Path,
    mnist_labels: Path,
    mnist: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    import fsspec
    import webdataset as wds

    gopen = importlib.import_module("webdataset.gopen")  # the module (the package's `gopen` is its function)

    url = convert_to(s3, "webdataset", 2, mnist_images, mnist_labels)
    options = storage_options(s3)

    def open_s3(address: str, mode: str = "rb", bufsize: int = 8192, **_: Any) -> Any:
        return fsspec.open(address, mode, **options).open()

    monkeypatch.setitem(gopen.gopen_schemes, "s3", open_s3)  # WebDataset's hook for a URL scheme
    x, y = mnist
    seen = np.zeros(len(x), bool)
    shards = [f"{url}train-00000{i}.tar" for i in range(2)]
    for sample in wds.WebDataset(shards, shardshuffle=False).decode("l8"):
        i = int(sample["__key__"])
        assert np.array_equal(sample["png"], x[i]), i
        assert sample["cls"] == y[i]
        seen[i] = True
    assert seen.all()
