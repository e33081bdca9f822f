"""Run idxtool as ``python -m idxtool``."""

from idxtool.cli import run

run()
