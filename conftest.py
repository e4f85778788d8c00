from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ml.data import to_original_format
from ml.sample import synthetic_applications

REPO = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def audit_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, settings) -> Path:
    """Each test's own folder of signed audit checkpoints, for this process and the workers it starts.

    Every test starts with an empty chain: a checkpoint of another test's chain would read as records
    deleted from the end.
    """
    folder = tmp_path_factory.mktemp("audit-checkpoints")
    monkeypatch.setenv("CREDITRISK_AUDIT_CHECKPOINT_DIR", str(folder))
    settings.CREDITRISK_AUDIT_CHECKPOINT_DIR = folder
    return folder


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    return synthetic_applications(600, seed=7)


@pytest.fixture(scope="session")
def sample_text(sample_frame: pd.DataFrame) -> str:
    return to_original_format(sample_frame)


@pytest.fixture
def write_file(tmp_path: Path):
    def write(name: str, content: str | bytes, encoding: str = "latin-1") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding, newline="")
        return path

    return write


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared PAKDD folder; CI always has it (`.ci/run` sets CREDITRISK_DATA_DIR)."""
    path = Path(os.environ.get("CREDITRISK_DATA_DIR", REPO.parent / "shared" / "data" / "pakdd2010"))
    if not (path / "PAKDD2010_Modeling_Data.txt").is_file():
        pytest.skip(f"the shared PAKDD data is not at {path}")
    return path


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Ask a process a test started to stop; kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto in server mode) on 127.0.0.1, stopped after the session."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the moto S3 server did not start within 30 s")
        yield endpoint
    finally:
        stop_process(process)


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch):
    """A fresh bucket; boto3 reaches the local server through AWS_ENDPOINT_URL, as in production."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }.items():
        monkeypatch.setenv(name, value)
    name = f"creditrisk-{_free_port()}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    return client, name
