"""Regenerate reviewbot/data/stdlib.json.gz: each Lambda Python version's standard library.

    python tools/stdlib_tables.py [--python 3.9=/path/to/python3.9 ...]

Without --python, the interpreters are found under pyenv (`pyenv root`/versions/3.X.*).
Each one runs tools/stdlib_probe.py in isolated mode; the results are merged into one file
in which a module's facts are stored once for all the versions that share them. The file
records the exact interpreter versions it came from. Run it on Linux (Lambda's platform).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "reviewbot" / "data" / "stdlib.json.gz"
VERSIONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


def pyenv_interpreters() -> dict[str, str]:
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout
    found = {}
    for path in sorted(Path(root.strip(), "versions").glob("3.*")):
        minor = ".".join(path.name.split(".")[:2])
        if minor in VERSIONS and (path / "bin" / "python").exists():
            found[minor] = str(path / "bin" / "python")
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", action="append", default=[], metavar="3.X=PATH")
    args = ap.parse_args()
    interpreters = dict(p.split("=", 1) for p in args.python) or pyenv_interpreters()
    entries: list[list] = []  # [file, package, open, names joined by " " or None]
    index: dict[str, int] = {}
    modules: dict[str, dict[str, int]] = {}
    tops: dict[str, list[str]] = {}
    builtins: dict[str, list[str]] = {}
    exact: dict[str, str] = {}
    for minor, python in sorted(interpreters.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))):
        out = subprocess.run([python, "-I", str(HERE / "stdlib_probe.py")], capture_output=True,
                             text=True, check=True, timeout=600, cwd="/").stdout
        data = json.loads(out)
        exact[minor] = ".".join(map(str, data["version"]))
        tops[minor] = data["top"]
        builtins[minor] = data["builtins"]
        for name, m in data["modules"].items():
            entry = [m["file"], m["package"], m["open"],
                     None if m["names"] is None else " ".join(m["names"])]
            key = json.dumps(entry)
            if key not in index:
                index[key] = len(entries)
                entries.append(entry)
            modules.setdefault(name, {})[minor] = index[key]
        print(f"{minor}: {exact[minor]}, {len(data['modules'])} modules", file=sys.stderr)
    OUT.parent.mkdir(exist_ok=True)
    payload = {"interpreters": exact, "top": tops, "builtins": builtins,
               "entries": entries, "modules": modules}
    OUT.write_bytes(gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), 9,
                                  mtime=0))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
