"""Install the pinned uv release from PyPI into a folder, with or without pip.

Used by ``./uvw`` on machines without uv. pip is tried first (it honours the
machine's index settings); without pip the wheel is downloaded from PyPI with
the standard library, its SHA-256 checked against PyPI's record, and the uv
binary extracted.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import stat
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"


def via_pip(target: Path) -> bool:
    """Install uv with pip into ``target``; False when pip is unavailable or fails."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return False
    # --target skips PEP 668's externally-managed check, so Debian's python3 works.
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    return subprocess.run([*cmd, f"uv=={UV_VERSION}"], check=False).returncode == 0


def via_pypi(target: Path) -> None:
    """Download the matching manylinux/macOS wheel from PyPI and extract the binary."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    # PEP 691: the index's JSON form lists every file with its hashes.
    request = urllib.request.Request(
        "https://pypi.org/simple/uv/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (fixed https URL)
        files = json.load(resp)["files"]
    system = sys.platform
    wanted = ("manylinux", arch) if system.startswith("linux") else ("macosx", arch)
    prefix = f"uv-{UV_VERSION}-"
    for entry in files:
        name = entry["filename"]
        if name.startswith(prefix) and name.endswith(".whl") and all(p in name for p in wanted):
            break
    else:
        raise SystemExit(f"get_uv: no uv {UV_VERSION} wheel for {system}/{arch} on PyPI")
    with urllib.request.urlopen(entry["url"], timeout=300) as resp:  # noqa: S310
        data = resp.read()
    if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
        raise SystemExit(f"get_uv: checksum mismatch for {name}")
    bindir = target / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for member in wheel.namelist():
            if "/scripts/" in member and Path(member).name in {"uv", "uvx"}:
                out = bindir / Path(member).name
                out.write_bytes(wheel.read(member))
                out.chmod(out.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main() -> int:
    """Install uv into the folder named by the first argument."""
    target = Path(sys.argv[1]).resolve()
    print(f"get_uv: installing uv {UV_VERSION} into {target}", file=sys.stderr)
    if not via_pip(target):
        via_pypi(target)
    if not (target / "bin" / "uv").exists():
        raise SystemExit("get_uv: uv was not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
