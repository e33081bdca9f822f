"""manifest.parse_manifest: every path component is checked, splits, views, and where errors point."""

from __future__ import annotations

import pytest

from idxtool.errors import ManifestError
from idxtool.manifest import Dataset, Resource, parse_manifest

H = "a" * 64
ONE = f'''name = "tiny"
urls = ["https://tiny.example/"]
[[files]]
name = "t-images.gz"
split = "test"
kind = "images"
sha256 = "{H}"
'''
FAMILY = f'''family = "fam"
urls = ["https://f.example/"]
[[files]]
name = "all.zip"
kind = "archive"
sha256 = "{H}"
[[datasets]]
name = "fam-a"
[[datasets.files]]
name = "a-images.gz"
split = "train"
kind = "images"
archive = "all.zip"
member = "all/a-images.gz"
'''


def error(text: str) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "m.toml")
    assert info.value.exit_code == 2
    return str(info.value)


def test_a_single_dataset() -> None:
    (ds,) = parse_manifest(ONE, "m.toml", builtin=True)
    assert isinstance(ds, Dataset) and ds.builtin and ds.family == "tiny" and ds.source == "m.toml"
    assert ds.files == (Resource("t-images.gz", "images", "test", sha256=H),)
    assert ds.pairs() == {"test": (ds.files[0], None)}


#: Hostile values as Python strings; toml() writes each as a TOML basic string.
HOSTILE_NAMES = ["../../x", "/abs", "a/b", "..", "", "x\\y", "_archives", "C:x", "a\x00b"]


def toml(value: str) -> str:
    """``value`` as a TOML basic string (escaping backslashes, quotes and control characters)."""
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'


@pytest.mark.parametrize("family", HOSTILE_NAMES)
def test_family_is_checked_like_a_name(family: str) -> None:
    message = f"family: must be letters, digits, '.', '_' or '-' (not first), got {family!r}"
    assert error(ONE.replace("urls =", f"family = {toml(family)}\nurls =")) == f"m.toml: {message}"
    # In a family manifest the top-level key is named as written, not as datasets[0].family.
    assert error(FAMILY.replace('family = "fam"', f"family = {toml(family)}")) == f"m.toml: {message}"


def test_a_family_of_a_dataset_table_is_named_there() -> None:
    text = FAMILY.replace('name = "fam-a"\n', 'name = "fam-a"\nfamily = "../up"\n')
    assert error(text) == (
        "m.toml: datasets[0].family: must be letters, digits, '.', '_' or '-' (not first), got '../up'"
    )


@pytest.mark.parametrize("name", ["../t.gz", "/etc/passwd", "a\\b.gz", "..", ".", "C:t.gz", "t\x00.gz"])
def test_file_names_are_plain(name: str) -> None:
    assert error(ONE.replace('"t-images.gz"', toml(name))) == (
        f"m.toml: files[0].name: must be a plain file name without folders, got {name!r}"
    )


def test_file_names_are_not_empty_nor_hidden() -> None:
    assert error(ONE.replace('"t-images.gz"', '""')) == "m.toml: files[0].name: must not be empty"
    assert error(ONE.replace('"t-images.gz"', '".lock"')) == (
        "m.toml: files[0].name: must not start with '.' (idxtool's own files in the cache do), got '.lock'"
    )


@pytest.mark.parametrize(
    "member",
    [
        "../a-images.gz",
        "all/../../a-images.gz",
        "/abs/a-images.gz",
        "\\abs\\a.gz",
        "C:/a.gz",
        "all//a.gz",
        "all/./a.gz",
        "",
        "all/a\x00.gz",
        "all/",
        "all\\..\\..\\a.gz",
    ],
)
def test_members_stay_inside_the_archive(member: str) -> None:
    text = FAMILY.replace('member = "all/a-images.gz"', f"member = {toml(member)}")
    assert error(text) == (
        f"m.toml: datasets[0].files[0].member: must be a relative path inside the archive, got {member!r}"
    )


def test_members_may_use_folders() -> None:
    (ds,) = parse_manifest(FAMILY.replace("all/a-images.gz", "gzip/sub/a-images.gz"), "m.toml")
    assert ds.resource("a-images.gz").member == "gzip/sub/a-images.gz"


@pytest.mark.parametrize("split", ["../x", "a/b", "", ".hidden", "a b"])
def test_split_names_are_names(split: str) -> None:
    assert error(ONE.replace('split = "test"', f'split = "{split}"')).startswith(
        "m.toml: files[0].split: must be letters, digits, '.', '_' or '-' (not first), got "
    )


def test_dataset_names_are_names() -> None:
    assert error(ONE.replace('name = "tiny"', 'name = "../tiny"')) == (
        "m.toml: name: must be letters, digits, '.', '_' or '-' (not first), got '../tiny'"
    )


def test_labels_without_images_are_allowed_and_pair_with_none() -> None:
    text = ONE.replace('kind = "images"', 'kind = "labels"')
    (ds,) = parse_manifest(text, "m.toml")
    assert ds.splits == ["test"] and ds.pairs() == {"test": (None, ds.files[0])}


def test_a_second_labels_file_for_a_split_is_refused() -> None:
    text = ONE + f'[[files]]\nname = "b.gz"\nsplit = "test"\nkind = "images"\nsha256 = "{H}"\n'
    assert error(text) == "m.toml: files[1].kind: split 'test' already has images (files[0])"


def test_errors_in_shared_files_point_at_the_top_level() -> None:
    assert error(FAMILY.replace('kind = "archive"', 'kind = "zip"')) == (
        "m.toml: files[0].kind: expected one of images, labels, archive, other, got 'zip'"
    )
    duplicate = FAMILY.replace('name = "a-images.gz"', 'name = "all.zip"')
    assert error(duplicate) == "m.toml: datasets[0].files[0].name: duplicate file name 'all.zip' (also files[0])"


def test_views_name_a_split_that_has_files() -> None:
    text = ONE.replace("[[files]]", 'views = { first = "test[:10]", bad = "train[:5]" }\n[[files]]')
    assert error(text) == "m.toml: views.bad: names split 'train', which has no files (splits: test)"
    (ds,) = parse_manifest(text.replace(', bad = "train[:5]"', ""), "m.toml")
    assert (ds.views["first"].split, ds.views["first"].stop) == ("test", 10)


def test_resource_lookup_names_the_dataset() -> None:
    (ds,) = parse_manifest(ONE, "m.toml")
    with pytest.raises(KeyError, match="tiny: no file 'nope.gz'"):
        ds.resource("nope.gz")


def test_toml_nested_too_deeply_is_a_manifest_error() -> None:
    deep = "x = " + "[" * 3000 + "]" * 3000 + "\n"
    with pytest.raises(ManifestError, match=r"^deep\.toml: invalid TOML: nested too deeply$"):
        parse_manifest(deep, "deep.toml")
    tables = "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"
    with pytest.raises(ManifestError, match="nested too deeply"):
        parse_manifest(tables, "deep.toml")


@pytest.mark.parametrize(
    ("old", "new"), [('"a-images.gz"', '"a\\u0000images.gz"'), ('"all/a-images.gz"', '"all/a\\u0000"')]
)
def test_a_nul_byte_in_a_file_name_is_a_manifest_error(old: str, new: str) -> None:
    key = "member" if "all/" in old else "name"
    message = error(FAMILY.replace(old, new))
    assert message.startswith(f"m.toml: datasets[0].files[0].{key}: "), message
    assert "\\x00" in message
