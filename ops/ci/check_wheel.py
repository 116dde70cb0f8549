"""Check that a built wheel carries every data file the gateway reads at run time.

Every file tracked by git under the data folders (``contracts/``, ``examples/``, ``mappings/``) and
every module and data file under ``gateway/``, ``adapters/`` must be in the wheel, at the place ``gateway/resources.py``
looks for it (``contracts/`` and ``examples/`` as ``gateway/bundled/...``). Also checks the PEP 639
licence metadata. Exit 1 with the missing files listed.

Usage: python ops/ci/check_wheel.py WHEEL
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RENAMED = {"contracts/": "gateway/bundled/contracts/", "examples/": "gateway/bundled/examples/"}
# Scripts beside the data build it; they are not read at run time, so not shipped as data.
NOT_RUNTIME = ("mappings/admin/build_transition.py", "mappings/schema/build.py")


def expected_members() -> list[str]:
    tracked = subprocess.run(
        ["git", "ls-files", "contracts", "examples", "mappings", "gateway", "adapters"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    members = []
    for path in tracked:
        if path in NOT_RUNTIME or (path.endswith(".py") and path.startswith(("contracts/", "examples/"))):
            continue
        for prefix, target in RENAMED.items():
            if path.startswith(prefix):
                path = target + path[len(prefix) :]
        members.append(path)
    return members


def main(wheel: str) -> int:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(metadata_name).decode("utf-8"))
    missing = [m for m in expected_members() if m not in names]
    problems = [f"missing from the wheel: {m}" for m in missing]
    if metadata.get("License-Expression") != "Apache-2.0":
        problems.append(f"License-Expression is {metadata.get('License-Expression')!r}, expected 'Apache-2.0'")
    if "LICENSE" not in (metadata.get_all("License-File") or []):
        problems.append("License-File LICENSE is not declared")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("the LICENSE file is not in the wheel")
    for line in problems:
        print(f"check_wheel: {line}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: {wheel}: {len(expected_members())} files and the licence are in the wheel")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
