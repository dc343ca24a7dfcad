"""The wheel ships the client as a typed package (PEP 561 `py.typed`) with httpx as the
optional `async` extra, and the sync client works without httpx."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_the_typed_client_and_the_async_extra(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("review-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names
                        if n.endswith(".dist-info/METADATA"))
    assert {"review/client/py.typed", "review/client/async_client.py",
            "review/client/calls.py"} <= names
    assert "Provides-Extra: async" in metadata
    assert 'Requires-Dist: httpx>=0.27; extra == "async"' in metadata
    runtime = [line for line in metadata.splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not any("httpx" in line for line in runtime)


def test_the_sync_client_imports_without_httpx():
    # A finder that refuses httpx, as on an install without the `async` extra.
    code = """
import sys
class NoHttpx:
    def find_spec(self, name, path=None, target=None):
        if name == "httpx" or name.startswith("httpx."):
            raise ModuleNotFoundError("No module named 'httpx'", name="httpx")
sys.meta_path.insert(0, NoHttpx())
from review.client import ReviewClient
ReviewClient("http://127.0.0.1:1", "rv_x")
try:
    from review.client import AsyncReviewClient
except ModuleNotFoundError as exc:
    print(exc.name, "review[async]" in str(exc))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "httpx True\n"
