"""``file_sha256(path)``: a file's sha256 hex digest, read in 1 MiB chunks (torch-free, so the
viewer can name weights and key its caches before torch is imported)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
