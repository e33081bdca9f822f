"""Images/labels pairs and named collections of them: loading, checking, dataset names.

A *part* is one images array with its labels (or none); a *collection* is one or more parts
keyed by split name (``""`` for a lone pair), with what a registered dataset says about its
labels (class names, offset) and orientation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, InputNotFoundError, UnknownDatasetError, UsageError


@dataclass(frozen=True)
class ClassInfo:
    """What a registered dataset says about its labels and images."""

    classes: tuple[str, ...] | None = None
    label_offset: int = 0
    transpose: bool = False
    dataset: str | None = None
    label_column: int = 0  # 2-d labels (QMNIST's extended ones): the column holding the class

    def name_of(self, label: int) -> str | None:
        """The class name of label value ``label``, or None when unnamed."""
        if self.classes is None:
            return None
        i = label - self.label_offset
        return self.classes[i] if 0 <= i < len(self.classes) else None


@dataclass
class Part:
    """One split: images and their labels (or None), with names for messages."""

    images: np.ndarray
    labels: np.ndarray | None = None
    images_name: str = "images"
    labels_name: str | None = None

    @property
    def count(self) -> int:
        return int(self.images.shape[0])

    def class_labels(self, column: int = 0) -> np.ndarray | None:
        """One integer label per record: the labels, or one column of 2-D (QMNIST-style) labels."""
        if self.labels is None:
            return None
        return self.labels if self.labels.ndim == 1 else self.labels[:, column]


@dataclass
class Collection:
    """Parts by split name (``""`` for a lone pair) and their class information."""

    parts: dict[str, Part]
    info: ClassInfo = field(default_factory=ClassInfo)
    name: str = ""

    @property
    def is_pair(self) -> bool:
        return list(self.parts) == [""]

    @property
    def count(self) -> int:
        return sum(p.count for p in self.parts.values())


@dataclass(frozen=True)
class PairPaths:
    """Where a pair lives on disk."""

    images: Path
    labels: Path | None = None


# -- checks --------------------------------------------------------------------------------


def check_images_shape(shape: Sequence[int], name: str) -> None:
    """Images have a record axis and at least one more; a 1-d file is a labels file."""
    if len(shape) < 2:
        count = shape[0] if shape else 1
        raise DataError(
            f"{name}: is 1-dimensional ({count:,} values), which is a labels file, not images; "
            "give the images file first"
        )


def check_part(part: Part) -> Part:
    """Check that images and labels belong together; raise DataError when they cannot."""
    check_images_shape(part.images.shape, part.images_name)
    if part.labels is None:
        return part
    if part.labels.ndim not in (1, 2):
        shape = " x ".join(map(str, part.labels.shape))
        raise DataError(
            f"{part.labels_name}: is {shape}, which looks like images, not labels (labels are 1- or 2-dimensional)"
        )
    if part.labels.dtype.kind not in "iu":
        raise DataError(f"{part.labels_name}: labels must be integers, not {part.labels.dtype}")
    if len(part.labels) != part.count:
        raise DataError(
            f"{part.images_name} has {part.count:,} records but {part.labels_name} has "
            f"{len(part.labels):,} labels; give the labels file that belongs to these images"
        )
    return part


def check_classes(part: Part, info: ClassInfo) -> None:
    """Every label must name one of the dataset's classes."""
    labels = part.class_labels(info.label_column)
    if labels is None or info.classes is None or not len(labels):
        return
    k, off = len(info.classes), info.label_offset
    bad = np.flatnonzero((labels < off) | (labels >= off + k))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{part.labels_name}: label {int(labels[i])} at record {i:,} does not fit the {k} classes "
            f"of {info.dataset} (labels {off}..{off + k - 1})"
        )


# -- dataset names -------------------------------------------------------------------------


def _registry() -> Any:
    try:
        from . import registry
    except ImportError:
        return None
    return registry


def is_dataset_name(src: str | os.PathLike[str]) -> bool:
    """True for a registered dataset name that is not also an existing path."""
    text = os.fspath(src)
    if os.path.exists(text):
        return False
    registry = _registry()
    if registry is None:
        return False
    try:
        registry.get(text)
    except UnknownDatasetError:
        return False
    return True


def dataset_info(name: str) -> ClassInfo:
    """Class names, label offset and orientation of a registered dataset."""
    registry = _registry()
    if registry is None:
        raise UnknownDatasetError(f"{name}: unknown dataset (no registry is installed)")
    ds = registry.get(name)
    classes = getattr(ds, "classes", None)
    return ClassInfo(
        classes=tuple(classes) if classes else None,
        label_offset=int(getattr(ds, "label_offset", 0) or 0),
        transpose=bool(getattr(ds, "transpose", False)),
        dataset=str(getattr(ds, "name", name)),
        label_column=int(getattr(ds, "label_column", None) or 0),
    )


def dataset_paths(name: str, dir: str | os.PathLike[str] | None = None) -> dict[str, PairPaths]:
    """Split name -> files of a registered dataset, fetching (and verifying) them if needed."""
    from .fetch import local_splits

    return {split: PairPaths(Path(i), Path(l) if l else None) for split, (i, l) in local_splits(name, dir).items()}


def check_exists(src: str) -> None:
    """A missing path: unknown dataset (with suggestions) when it looks like a name, else no such file."""
    if os.path.exists(src):
        return
    registry = _registry()
    looks_like_name = registry is not None and not any(c in src for c in "/\\.")
    if looks_like_name and hasattr(registry, "unknown_message"):
        raise UnknownDatasetError(registry.unknown_message(src, list(registry.names())))
    hint = " or registered dataset" if registry is not None else ""
    raise InputNotFoundError(f"{src}: no such file{hint}")


def dataset_names() -> list[str]:
    """Registered dataset names (empty when no registry is installed)."""
    registry = _registry()
    return list(registry.names()) if registry is not None else []


# -- resolving command-line sources ---------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """IMAGES [LABELS] or a dataset name, resolved to files and class information."""

    splits: dict[str, PairPaths]
    info: ClassInfo
    name: str

    @property
    def is_dataset(self) -> bool:
        return self.info.dataset is not None and "" not in self.splits


def resolve(
    sources: Sequence[str],
    *,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
) -> Resolved:
    """Resolve ``IMAGES [LABELS]`` or ``NAME`` to paths; ``dataset`` lends a pair its classes."""
    if not sources:
        raise UsageError("give IMAGES [LABELS] files or a dataset name")
    if len(sources) == 1 and is_dataset_name(sources[0]):
        name = sources[0]
        return Resolved(dataset_paths(name, dir), dataset_info(name), name)
    if len(sources) > 2:
        raise UsageError(f"expected IMAGES [LABELS] or one dataset name, got {len(sources)} arguments")
    for src in sources:
        check_exists(src)
    images = Path(sources[0])
    labels = Path(sources[1]) if len(sources) == 2 else None
    info = dataset_info(dataset) if dataset else ClassInfo()
    return Resolved({"": PairPaths(images, labels)}, info, str(images))


def load_part(paths: PairPaths) -> Part:
    """Read an IDX images file and its labels (if any) and check they belong together."""
    from .idx import open_idx

    with open_idx(paths.images) as f:
        check_images_shape(f.shape, str(paths.images))
        images = f.read()
    labels = None
    if paths.labels is not None:
        with open_idx(paths.labels) as f:
            labels = f.read()
    return check_part(Part(images, labels, str(paths.images), str(paths.labels) if paths.labels else None))


def load(resolved: Resolved) -> Collection:
    """Read every split of ``resolved`` into memory, checked against its classes."""
    parts = {split: load_part(p) for split, p in resolved.splits.items()}
    for part in parts.values():
        check_classes(part, resolved.info)
    return Collection(parts, resolved.info, resolved.name)


def with_info(coll: Collection, info: ClassInfo) -> Collection:
    """``coll`` with the class information of a registered dataset, checked."""
    for part in coll.parts.values():
        check_classes(part, info)
    return replace(coll, info=info)


def training_split(splits: dict[str, PairPaths]) -> tuple[str, PairPaths]:
    """The split to work on: ``train`` if there is one, else the only one."""
    if "train" in splits:
        return "train", splits["train"]
    if len(splits) == 1:
        return next(iter(splits.items()))
    raise UsageError(f"no train split among {', '.join(splits)}")
