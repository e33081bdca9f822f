"""Print a command from README.md, so that CI and tests run exactly what users read.

A command is the first line of the fenced block that follows ``<!-- command: NAME -->``.

    python3 .ci/readme_command.py test
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command(name: str, text: str | None = None) -> str:
    """The command marked ``<!-- command: name -->`` in the README."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(rf"<!-- command: {re.escape(name)} -->\s*```[a-z]*\n(.+?)\n```", text, re.S)
    if not match:
        raise SystemExit(f"README.md has no block marked <!-- command: {name} -->")
    return match.group(1).strip()


if __name__ == "__main__":
    print(readme_command(sys.argv[1]))
