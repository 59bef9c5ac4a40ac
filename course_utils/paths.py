"""Where the shipped files live, and their checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_DIR / "data"
CHECKPOINT_DIR = DATA_DIR / "checkpoints"
SHA256SUMS = DATA_DIR / "challenge" / "SHA256SUMS"


def sha256_of(path: Path) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _recorded_sums() -> dict[str, str]:
    sums = {}
    for line in SHA256SUMS.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip()] = digest
    return sums


def verify_file(path: Path) -> None:
    """Raise a clear error if a shipped file is missing or differs from its recorded sha256."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the course repository: restore it with "
            f"`git checkout -- {path.relative_to(REPO_DIR)}`."
        )
    recorded = _recorded_sums().get(path.name)
    if recorded is None:
        raise KeyError(f"{path.name} has no checksum in {SHA256SUMS}.")
    actual = sha256_of(path)
    if actual != recorded:
        raise ValueError(
            f"{path} has sha256 {actual[:12]}…, but {SHA256SUMS.name} records {recorded[:12]}…. "
            "The file was modified: restore it with git, or regenerate it as data/README.md says."
        )
