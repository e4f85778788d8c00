"""Model artifacts on disk: saved with their sha256, loaded only when the checksum matches.

An artifact is a pickle, and unpickling runs code, so a file whose digest differs from the one
recorded at training time is refused before it is opened by joblib.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd


class ArtifactUnusableError(RuntimeError):
    """The model version cannot score: its artifact is altered or missing, or it predates the scorer."""


class ArtifactIntegrityError(ArtifactUnusableError):
    """The artifact on disk is missing or is not the one that was registered."""


class ArtifactOutdatedError(ArtifactUnusableError):
    """The version was trained before the compiled scorer existed: it is refused until retrained."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_artifact(model: Any, folder: Path, version: str, metadata: dict[str, Any]) -> tuple[Path, str]:
    """Write ``model`` and a JSON sidecar of its metadata; returns the artifact path and digest."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    joblib.dump(model, path, compress=3)
    digest = sha256_file(path)
    sidecar = {**metadata, "version": version, "artifact": path.name, "artifact_sha256": digest}
    (folder / f"{version}.json").write_text(json.dumps(sidecar, indent=2, default=str))
    return path, digest


def save_scorer(scorer: Any, folder: Path, version: str) -> tuple[Path, str]:
    """Write the compiled scorer beside the model's artifact; returns its path and sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.scorer.joblib"
    joblib.dump(scorer, path, compress=3)
    return path, sha256_file(path)


def load_artifact(path: Path, expected_sha256: str) -> Any:
    """The model in ``path`` if its sha256 is ``expected_sha256``; ArtifactIntegrityError otherwise.

    The bytes are read once, checked and unpickled from memory: the file cannot be swapped between
    the check and the load.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"model artifact {path} is missing; refusing to score without it") from None
    except OSError as exc:
        raise ArtifactIntegrityError(f"model artifact {path} cannot be read: {exc}") from exc
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {path} has sha256 {actual}, but {expected_sha256} was registered; "
            "refusing to load it (it was altered or replaced)"
        )
    return joblib.load(io.BytesIO(data))


def save_table(frame: pd.DataFrame, path: Path) -> str:
    """Write a pandas frame as gzip CSV (readable without unpickling anything); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    return sha256_file(path)


def load_table(path: Path, expected_sha256: str) -> pd.DataFrame:
    """A frame written by :func:`save_table`, only when its sha256 matches the registry's."""
    if not path.is_file():
        raise ArtifactIntegrityError(f"{path} is missing")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(f"{path} has sha256 {actual}, but {expected_sha256} was registered")
    return pd.read_csv(path)


def artifact_signature(path: Path) -> tuple[int, int, int]:
    """Identity, size and modification time of the file: cheap to read before every prediction, and
    different whenever the file was replaced, rewritten or touched since it was checked."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"model artifact {path} is missing; refusing to score without it") from None
    return info.st_ino, info.st_size, info.st_mtime_ns
