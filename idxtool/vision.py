"""Dataset classes with torchvision's signatures, for people who switch one import.

``from idxtool.vision import MNIST`` (or ``idxtool.MNIST``) instead of
``from torchvision.datasets import MNIST``: the same constructor
``(root, train=True, transform=None, target_transform=None, download=False)``, the same
``__getitem__`` (a PIL image of mode ``L`` and an int target), ``__len__``, ``.data``,
``.targets``, ``.classes`` and ``.class_to_idx``. Files come through idxtool's fetching
(mirrors, hashes, locks) into the cache root ``root``; torch is never imported, so the
classes work in a torch ``DataLoader`` and without torch.

As in torchvision, ``.data`` holds the images as stored (EMNIST's are transposed: apply
the same transform you used with torchvision), ``.targets`` the labels as stored (EMNIST
letters' run 1 to 26 and ``classes[0]`` is ``"N/A"``), as numpy arrays (uint8 images, int64
targets) instead of tensors; ``torch.from_numpy`` turns them into torchvision's tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .errors import IdxError

__all__ = ["EMNIST", "KMNIST", "MNIST", "QMNIST", "DatasetNotFoundError", "FashionMNIST"]


class DatasetNotFoundError(IdxError, RuntimeError):
    """A dataset class was asked for files that are not in the cache, with ``download=False``.

    Also a RuntimeError, as torchvision raises, so ``except RuntimeError`` keeps working.
    """


#: torchvision's names for the ten digits (MNIST and QMNIST).
DIGITS: tuple[str, ...] = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four")
DIGITS += ("5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine")


class MNIST:
    """MNIST's training (60,000) or test (10,000) digits, as torchvision's ``MNIST``.

    Parameters
    ----------
    root
        The cache root idxtool keeps datasets in (``root/mnist/...``).
    train
        The training split if True, else the test split.
    transform
        Called on each PIL image (for example ``torchvision.transforms.ToTensor()``).
    target_transform
        Called on each target.
    download
        Fetch the files (verified) when they are not in ``root`` yet; without it a missing
        file raises DatasetNotFoundError (a RuntimeError, as torchvision's).

    Raises
    ------
    DatasetNotFoundError
        A file is missing and ``download`` is False.
    DownloadError
        ``download`` is True and a file could not be obtained intact.

    Examples
    --------
    >>> ds = idxtool.MNIST(tmp, download=True)  # doctest: +SKIP
    >>> image, target = ds[0]  # doctest: +SKIP
    """

    #: The registered dataset this class reads.
    dataset: ClassVar[str] = "mnist"
    #: torchvision's class names, when they differ from the manifest's.
    class_names: ClassVar[tuple[str, ...] | None] = DIGITS

    def __init__(
        self,
        root: str | os.PathLike[str],
        train: bool = True,  # noqa: FBT001, FBT002  (torchvision's positional signature)
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        download: bool = False,  # noqa: FBT001, FBT002
    ) -> None:
        self.root = os.fspath(os.path.expanduser(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.data, self.targets, self.classes = self._load(download=download)

    # -- what to read ------------------------------------------------------------------------

    def _word(self) -> str:
        """The dataset word to read: ``NAME:SPLIT`` (or a view of it)."""
        return f"{self.dataset}:{'train' if self.train else 'test'}"

    def _load(self, *, download: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
        from . import cache
        from .loading import _read_pair, dataset_files
        from .model import LabelInfo
        from .sources import DatasetRef, resolve

        ref = resolve(self._word())
        if not isinstance(ref, DatasetRef):  # pragma: no cover - the words above are dataset names
            raise DatasetNotFoundError(f"{self._word()}: not a registered dataset")
        if not download:
            missing = self._missing(ref, cache.root(self.root))
            if missing:
                raise DatasetNotFoundError(
                    f"Dataset not found. You can use download=True to download it "
                    f"({ref.name}: {', '.join(missing)} not in {cache.root(self.root)})"
                )
        from .textprogress import auto

        files = dataset_files(ref, self.root, progress=auto() if download else None)
        info = LabelInfo.of(ref.dataset)
        ((images, labels),) = (_read_pair(f) for f in files.values())
        if images is None or labels is None:
            raise DatasetNotFoundError(f"{ref}: needs both images and labels")
        return images, labels.astype(np.int64), self._classes(info)

    def _missing(self, ref: Any, base: Any) -> list[str]:
        from . import cache

        split = ref.selection.split if ref.selection is not None else None
        missing = []
        for name, (images, labels) in ref.dataset.pairs().items():
            if split is not None and name != split:
                continue
            for resource in (images, labels):
                if resource is not None and not cache.path_of(ref.dataset, resource, base).is_file():
                    missing.append(resource.name)
        return missing

    def _classes(self, info: Any) -> list[str]:
        if self.class_names is not None:
            return list(self.class_names)
        return ["N/A"] * info.label_offset + list(info.classes or ())

    # -- torchvision's face ------------------------------------------------------------------

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name -> target value."""
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def _target(self, index: int) -> Any:
        return int(self.targets[index])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(image, target)``: a PIL image of mode ``L`` (transformed) and an int (transformed)."""
        from PIL import Image

        image: Any = Image.fromarray(np.ascontiguousarray(self.data[index]))
        target = self._target(index)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def extra_repr(self) -> str:
        """The split, as torchvision's repr shows it."""
        return f"Split: {'Train' if self.train else 'Test'}"

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        lines.append(f"    Root location: {self.root}")
        lines += ["    " + line for line in self.extra_repr().splitlines()]
        if self.transform is not None:
            lines.append(f"    Transforms: {self.transform!r}")
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Fashion-MNIST's article images, as torchvision's ``FashionMNIST`` (same parameters as MNIST)."""

    dataset = "fashion-mnist"
    class_names = None


class KMNIST(MNIST):
    """Kuzushiji-MNIST's hiragana, as torchvision's ``KMNIST`` (same parameters as MNIST)."""

    dataset = "kmnist"
    class_names = None


class EMNIST(MNIST):
    """One of EMNIST's six splits, as torchvision's ``EMNIST(root, split, **kwargs)``.

    ``split`` is ``byclass``, ``bymerge``, ``balanced``, ``letters``, ``digits`` or
    ``mnist``; images are as stored (transposed), letters' targets run 1 to 26.

    Raises
    ------
    ParameterError
        ``split`` is not one of the six (also a ValueError, as torchvision's).
    """

    splits: ClassVar[tuple[str, ...]] = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    class_names = None

    def __init__(self, root: str | os.PathLike[str], split: str, **kwargs: Any) -> None:
        from .errors import ParameterError

        if split not in self.splits:
            raise ParameterError("split", split, f"must be one of {', '.join(self.splits)}")
        self.split = split
        super().__init__(root, **kwargs)

    def _word(self) -> str:
        return f"emnist-{self.split}:{'train' if self.train else 'test'}"


class QMNIST(MNIST):
    """QMNIST, as torchvision's ``QMNIST(root, what=None, compat=True, train=True, **kwargs)``.

    Parameters
    ----------
    root
        The cache root.
    what
        ``train``, ``test`` (60,000), ``test10k`` (MNIST's 10,000 test digits), ``test50k``
        (the 50,000 lost ones) or ``nist`` (all 402,953); default by ``train``.
    compat
        Targets are the class (an int) if True, else the whole 8-int row of QMNIST's label
        table (an int64 array). ``.targets`` is always the N x 8 table, as in torchvision.
    train
        Chooses ``train`` or ``test`` when ``what`` is None.
    **kwargs
        ``transform``, ``target_transform``, ``download``.

    Raises
    ------
    ParameterError
        ``what`` is not one of the five (also a ValueError).
    """

    subsets: ClassVar[dict[str, str]] = {
        "train": "qmnist:train",
        "test": "qmnist:test",
        "test10k": "qmnist:test10k",
        "test50k": "qmnist:test50k",
        "nist": "qmnist-nist:nist",
    }

    def __init__(
        self,
        root: str | os.PathLike[str],
        what: str | None = None,
        compat: bool = True,  # noqa: FBT001, FBT002  (torchvision's signature)
        train: bool = True,  # noqa: FBT001, FBT002
        **kwargs: Any,
    ) -> None:
        from .errors import ParameterError

        if what is None:
            what = "train" if train else "test"
        if what not in self.subsets:
            raise ParameterError("what", what, f"must be one of {', '.join(self.subsets)}")
        self.what = what
        self.compat = compat
        super().__init__(root, train, **kwargs)

    def _word(self) -> str:
        return self.subsets[self.what]

    def _target(self, index: int) -> Any:
        row = self.targets[index]
        if row.ndim == 0:
            return int(row)
        return int(row[0]) if self.compat else row

    def extra_repr(self) -> str:
        """The subset, as torchvision's repr shows it."""
        return f"Split: {self.what}"
