"""Time a clean build of the website and a cached rebuild (nothing changed).

Prints one JSON line: {"clean_s": ..., "cached_s": ..., "pages": ...}. Targets (issue 6): clean
<= 180 s, cached <= 20 s on 2 cores. Builds into a temporary folder, so _build/ is untouched;
needs `make _vendor/embed.js _vendor/mathjax/tex-chtml.js release` first (make book does it).

    .venv/bin/python benchmarks/book_build.py
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path) -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            str(ROOT),
            "--path-output",
            str(out),
            "--warningiserror",
            "--keep-going",
            "--quiet",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        clean = build(out)
        cached = build(out)
        pages = len(list((out / "_build" / "html" / "book").rglob("*.html")))
    print(json.dumps({"clean_s": round(clean, 1), "cached_s": round(cached, 1), "pages": pages}))


if __name__ == "__main__":
    main()
