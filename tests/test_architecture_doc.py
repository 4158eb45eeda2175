"""docs/ARCHITECTURE.md stays true: every product .py file is listed in it (by its path from
the repository root), and no listed file is gone."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ARCHITECTURE.md"


def product_files() -> list[str]:
    files = [p for pkg in ("viewer", "gan") for p in (REPO / pkg).rglob("*.py")]
    return sorted(str(p.relative_to(REPO)) for p in files
                  if p.name != "__init__.py" and "__pycache__" not in p.parts) + ["main.py"]


def test_every_product_file_is_in_the_architecture_doc():
    text = DOC.read_text(encoding="utf-8")
    missing = [f for f in product_files() if f"`{f}`" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not list: {', '.join(missing)}"


def test_every_file_named_in_the_doc_exists():
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:viewer|gan)/[\w/]+\.py)`", text))
    gone = sorted(f for f in named if not (REPO / f).is_file())
    assert not gone, f"docs/ARCHITECTURE.md names files that do not exist: {', '.join(gone)}"
