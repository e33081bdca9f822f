"""The registry: built-in manifests as published, user manifests, and their errors."""

from __future__ import annotations

import csv
import hashlib
from importlib import resources
from pathlib import Path

import pytest

from idxtool import registry
from idxtool.errors import ManifestError, UnknownDatasetError

CONTRACT_NAMES = [
    "emnist-balanced",
    "emnist-byclass",
    "emnist-bymerge",
    "emnist-digits",
    "emnist-letters",
    "emnist-mnist",
    "fashion-mnist",
    "kmnist",
    "mnist",
    "mnist-sample",
    "qmnist",
    "qmnist-nist",
]
TSV_DATASET = {
    "mnist": ["mnist"],
    "fashion": ["fashion-mnist"],
    "kmnist": ["kmnist"],
    "qmnist": ["qmnist", "qmnist-nist"],
    "emnist": [n for n in CONTRACT_NAMES if n.startswith("emnist-")],
}

VALID = """name = "tiny"
urls = ["https://tiny.example/data"]
[[files]]
name = "t-images-idx3-ubyte.gz"
split = "test"
kind = "images"
sha256 = "{h}"
""".replace("{h}", "a" * 64)


def write_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, name: str = "user.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(path))
    return path


def test_every_contract_name_is_registered() -> None:
    assert registry.names() == CONTRACT_NAMES


def test_built_in_hashes_sizes_and_urls_are_exactly_as_published(shared: Path) -> None:
    rows = [
        r
        for r in csv.reader((shared / "published-checksums.tsv").read_text().splitlines(), delimiter="\t")
        if r and not r[0].startswith("#")
    ]
    checked = 0
    urls: dict[str, list[str]] = {}
    for family, name, url_text, md5, sha256, size in rows:
        if family not in TSV_DATASET:
            continue  # keras-mnist, notmnist: not IDX datasets idxtool registers
        if url_text != "(same)":
            urls[family] = [u.strip().removesuffix(name) for u in url_text.split("|")]
        for ds_name in TSV_DATASET[family]:
            ds = registry.get(ds_name)
            entries = [r for r in ds.files if r.name == name]
            if not entries:
                continue
            (r,) = entries
            assert (r.md5, r.sha256, r.size) == (
                md5,
                None if sha256 == "-" else sha256,
                None if size == "-" else int(size),
            ), name
            assert set(urls[family]) <= set(ds.urls), ds_name  # every published source, and mirrors
            checked += 1
    assert checked == 4 + 4 + 4 + 4 + 2 + 6  # every published file, the archive once per EMNIST split


def test_the_embedded_sample_hashes_match_the_package_data() -> None:
    ds = registry.get("mnist-sample")
    for r in ds.files:
        data = (resources.files("idxtool") / "data" / "mnist-sample" / r.name).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (r.sha256, r.size)
    assert ds.embedded and ds.splits == ["test"]


def test_classes_and_quirks() -> None:
    fashion = registry.get("fashion-mnist")
    assert fashion.classes is not None and fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    assert registry.get("kmnist").classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    counts = {n: len(registry.get(n).classes or ()) for n in CONTRACT_NAMES if n.startswith("emnist-")}
    assert counts == {
        "emnist-balanced": 47,
        "emnist-byclass": 62,
        "emnist-bymerge": 47,
        "emnist-digits": 10,
        "emnist-letters": 26,
        "emnist-mnist": 10,
    }
    letters = registry.get("emnist-letters")
    assert (letters.label_offset, letters.transpose, letters.classes[:2]) == (1, True, ("a", "b"))  # type: ignore[index]
    assert registry.get("emnist-balanced").classes[36:] == tuple("abdefghnqrt")  # type: ignore[index]
    assert [n for n in CONTRACT_NAMES if registry.get(n).transpose] == [
        n for n in CONTRACT_NAMES if n.startswith("emnist-")
    ]
    assert registry.get("qmnist").label_column == 0 and registry.get("mnist").label_column is None
    for name in CONTRACT_NAMES:
        ds = registry.get(name)
        assert ds.license and ds.homepage and ds.citation and ds.description, name


def test_emnist_shares_one_archive_and_qmnist_nist_is_md5_only() -> None:
    ds = registry.get("emnist-digits")
    (archive,) = ds.archives
    assert (archive.name, archive.size, ds.family) == ("gzip.zip", 561_753_746, "emnist")
    members = [r for r in ds.files if r.extracted]
    assert [r.member for r in members][:1] == ["gzip/emnist-digits-train-images-idx3-ubyte.gz"]
    assert all(r.sha256 is None for r in members)
    nist = registry.get("qmnist-nist")
    assert [(r.md5_only, r.sha256) for r in nist.files] == [(True, None), (True, None)]
    assert nist.splits == ["nist"]


def test_pairs_are_in_manifest_order() -> None:
    pairs = registry.get("mnist").pairs()
    assert list(pairs) == ["train", "test"]
    assert [(i.name, l.name if l else None) for i, l in pairs.values()] == [
        ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    ]


@pytest.mark.parametrize(
    ("typo", "message"),
    [
        ("fashion-mnis", "fashion-mnis: unknown dataset; did you mean fashion-mnist? (idxtool list shows them all)"),
        ("Fashion_MNIST", "Fashion_MNIST: unknown dataset; did you mean fashion-mnist? (idxtool list shows them all)"),
        ("cifar10", "cifar10: unknown dataset (idxtool list shows them all)"),
    ],
)
def test_unknown_names_suggest_close_ones(typo: str, message: str) -> None:
    with pytest.raises(UnknownDatasetError) as info:
        registry.get(typo)
    assert str(info.value) == message and info.value.exit_code == 2


def test_a_user_manifest_adds_a_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_registry(tmp_path, monkeypatch, VALID)
    ds = registry.get("tiny")
    assert (ds.urls, ds.builtin, ds.source) == (("https://tiny.example/data/",), False, str(path))
    assert "tiny" in registry.names() and "mnist" in registry.names()


def test_a_user_manifest_replaces_a_built_in_and_folders_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "m.toml").write_text(VALID.replace('"tiny"', '"mnist"'))
    (folder / "notes.txt").write_text("not a manifest")
    monkeypatch.setenv("IDXTOOL_REGISTRY", f"{tmp_path / 'missing-is-checked'}")
    with pytest.raises(ManifestError, match=r"no such manifest file or folder \(from IDXTOOL_REGISTRY\)$"):
        registry.names()
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(folder))
    assert [r.name for r in registry.get("mnist").files] == ["t-images-idx3-ubyte.gz"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('name = "x"\nname = "y"\n', "invalid TOML: Cannot overwrite a value (at line 2, column 11)"),
        (
            VALID.replace('sha256 = "' + "a" * 64 + '"', ""),
            "files[0].sha256: missing (required; for a file published with an md5 only, set md5_only = true)",
        ),
        (VALID.replace("a" * 64, "abc"), "files[0].sha256: expected 64 hex digits, got 'abc'"),
        (VALID.replace("sha256 =", "sha265 ="), "files[0].sha265: unknown key (did you mean 'sha256'?)"),
        (
            VALID.replace('kind = "images"', 'kind = "pictures"'),
            "files[0].kind: expected one of images, labels, archive, other, got 'pictures'",
        ),
        (
            VALID.replace('name = "t-images', 'name = "../t-images'),
            "files[0].name: must be a plain file name without folders, got '../t-images-idx3-ubyte.gz'",
        ),
        (
            VALID.replace('urls = ["https://tiny.example/data"]', 'urls = ["ftp://tiny.example/"]'),
            "urls[0]: expected an http/https/file/package URL, got 'ftp://tiny.example/'",
        ),
        (
            VALID.replace('urls = ["https://tiny.example/data"]', "urls = 3"),
            "urls: expected a list of strings, got int 3",
        ),
        (
            VALID.replace('name = "tiny"', 'name = "_archives"'),
            "name: must be letters, digits, '.', '_' or '-' (not first), got '_archives'",
        ),
        (
            VALID + 'archive = "gzip.zip"\nmember = "gzip/x.gz"\n',
            "files[0].archive: no file of kind \"archive\" is named 'gzip.zip'",
        ),
        (VALID + "size = -1\n", "files[0].size: must not be negative, got -1"),
        (VALID + "md5_only = true\n", "files[0].md5: missing (md5_only = true needs an md5)"),
        (VALID.replace('split = "test"\n', ""), 'files[0].split: missing (required for kind = "images")'),
    ],
)
def test_a_broken_manifest_names_the_file_and_the_key(
    text: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_registry(tmp_path, monkeypatch, text)
    with pytest.raises(ManifestError) as info:
        registry.get("tiny")
    message = str(info.value)
    assert message == f"{path}: {error}"
    assert info.value.exit_code == 2


def test_a_family_manifest_shares_keys_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = """family = "fam"
urls = ["https://f.example/"]
license = "MIT"
[[files]]
name = "all.zip"
kind = "archive"
sha256 = "{h}"
[[datasets]]
name = "fam-a"
[[datasets.files]]
name = "a-images.gz"
split = "train"
kind = "images"
archive = "all.zip"
member = "all/a-images.gz"
[[datasets]]
name = "fam-b"
license = "CC0"
[[datasets.files]]
name = "b-images.gz"
split = "train"
kind = "images"
archive = "all.zip"
member = "all/../b-images.gz"
""".replace("{h}", "b" * 64)
    path = write_registry(tmp_path, monkeypatch, text)
    with pytest.raises(ManifestError) as info:
        registry.names()
    assert str(info.value) == (
        f"{path}: datasets[1].files[0].member: must be a relative path inside the archive, got 'all/../b-images.gz'"
    )
    path.write_text(text.replace("all/../b-images.gz", "all/b-images.gz"))
    a, b = registry.get("fam-a"), registry.get("fam-b")
    assert (a.family, a.license, b.license) == ("fam", "MIT", "CC0")
    assert [r.name for r in b.files] == ["all.zip", "b-images.gz"]


def test_every_downloaded_dataset_has_more_than_one_source_and_emnist_the_live_one_first() -> None:
    for ds in registry.all_datasets():
        if not ds.embedded:
            assert len(ds.urls) >= 2, ds.name
            assert len(set(ds.urls)) == len(ds.urls), ds.name
    for name in ("emnist-byclass", "emnist-digits", "emnist-letters"):
        ds = registry.get(name)
        assert ds.urls[:2] == (
            "https://biometrics.nist.gov/cs_links/EMNIST/",
            "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
        )
        assert ds.resource("gzip.zip").md5 == "58c8d27c78d21e728a6bc7b3cc06412e"


def test_idx_sha256_is_the_payload_of_the_real_files(shared: Path) -> None:
    import gzip

    known = {
        ("mnist", "train-images-idx3-ubyte.gz"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    }
    for family, names in {"mnist": ["mnist"], "fashion-mnist": ["fashion-mnist"], "qmnist": ["qmnist"]}.items():
        for path in sorted((shared / family).glob("*.gz")):
            payload = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
            for ds_name in names:
                entries = [r for r in registry.get(ds_name).files if r.name == path.name]
                if entries:
                    known[ds_name, path.name] = payload
    assert len(known) == 1 + 3 + 2 + 1  # every real file that is a built-in entry
    for (ds_name, name), payload in known.items():
        assert registry.get(ds_name).resource(name).idx_sha256 == payload, (ds_name, name)
