"""PNG trees: the tree writer, the encoder, the reader and contact sheets, as one format.

``convert --to png`` and ``export-png`` write ImageFolder/Ultralytics class trees
(:mod:`.tree`, encoded by :mod:`.encoder`); :mod:`.reader` reads them back in source order;
:mod:`.sheet` draws contact sheets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...model import Splits
from ...progress import ProgressFactory
from .. import ReadOptions, Target, WriteOptions


class PngFormat:
    """A PNG class tree (or a folder of split trees)."""

    name = "png"
    max_inputs = 1
    sniff_order = 95

    def sniff(self, path: Path) -> bool:
        return path.is_dir()

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        from .reader import read

        return read(paths[0], transpose=options.transpose)

    def target(self, splits: Splits) -> Target:
        return "exclusive-folder"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        from .tree import write_tree

        write_tree(out, splits, options.png, progress)


FORMAT = PngFormat()
