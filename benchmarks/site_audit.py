"""Audit the built website the way a reader's browser meets it: axe-core and Lighthouse.

Serves the site (default ``_build/html``) on 127.0.0.1 with gzip, as any web host does, fetches
axe-core (``npm pack``) and Lighthouse (``npm install``) into a temporary folder (never
committed), and prints one JSON line per page of the table of contents::

    {"page": "book/foundations/sgd.html", "html_bytes": 151234, "transferred_bytes": 812345,
     "accessibility": 100, "performance": 91, "lcp_ms": 980, "cls": 0.0, "tbt_ms": 40,
     "axe": {"critical": 0, "serious": 1, "moderate": 0, "minor": 0}, "axe_course": 0}

``axe`` counts the failing elements of every violation by impact; ``axe_course`` those of impact
critical or serious inside the page's ``<article>`` (what the course writes, not the theme's
navigation). Lighthouse uses its desktop preset (simulated throttling: scores fall on a loaded
machine; compare runs made under the same load). Everything but 127.0.0.1 is blocked for axe;
Lighthouse is given the local URL only.

    .venv/bin/python benchmarks/site_audit.py [--site DIR] [--page book/foundations/sgd.html]
        [--tools DIR] [--no-lighthouse]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import live_notebooks  # the one reader of _toc.yml

ROOT = Path(__file__).resolve().parents[1]
AXE_VERSION = "4.14.1"
LIGHTHOUSE_VERSION = "12.8.2"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: What a host compresses (fonts and images are compressed already).
COMPRESSED = {".html", ".js", ".css", ".json", ".svg", ".txt", ".map", ".xml"}


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, gzip-encoded when the client accepts it, cacheable for ten minutes."""

    _cache: dict = {}

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if (
            path.suffix not in COMPRESSED
            or not path.is_file()
            or "gzip" not in self.headers.get("Accept-Encoding", "")
        ):
            return super().do_GET()
        key = (path, path.stat().st_mtime)
        body = self._cache.get(key)
        if body is None:
            body = self._cache[key] = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(site: Path):
    """Start a gzip server for ``site`` on a free 127.0.0.1 port; returns (server, base URL)."""
    handler = functools.partial(GzipHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pages() -> list[str]:
    """Every page of the table of contents, as its path in the built site."""
    return [f"{page}.html" for page in live_notebooks.toc_pagenames()]


def fetch_tools(tools: Path, lighthouse: bool) -> tuple[Path, Path | None]:
    """axe-core's ``axe.min.js`` and Lighthouse's CLI, fetched with npm into ``tools``."""
    axe = tools / "package" / "axe.min.js"
    if not axe.exists():
        out = subprocess.run(
            ["npm", "pack", "--silent", f"axe-core@{AXE_VERSION}"],
            cwd=tools,
            check=True,
            capture_output=True,
            text=True,
        )
        with tarfile.open(tools / out.stdout.strip().splitlines()[-1]) as tar:
            tar.extractall(tools, filter="data")
    cli = tools / "node_modules" / "lighthouse" / "cli" / "index.js"
    if lighthouse and not cli.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(tools),
                f"lighthouse@{LIGHTHOUSE_VERSION}",
            ],
            check=True,
        )
    return axe, (cli if lighthouse else None)


def axe_counts(browser, url: str, axe_source: str) -> dict:
    """Failing elements by impact on the page at ``url``, and the course's serious ones."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.route(
        "**/*",
        lambda r: (
            r.continue_()
            if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else r.abort()
        ),
    )
    try:
        page.goto(url, wait_until="networkidle")
        if page.locator(".widget-slider").count() or "widget-state" in page.content():
            page.locator(".noUi-handle").first.wait_for(state="attached", timeout=30_000)
            page.wait_for_timeout(500)
        page.add_script_tag(content=axe_source)
        violations = page.evaluate("""async () => (await axe.run(document,
            {resultTypes: ['violations']})).violations.map((v) => ({impact: v.impact, id: v.id,
            article: v.nodes.filter((n) => document.querySelector(n.target.join(' '))
                ?.closest('article')).length, nodes: v.nodes.length}))""")
    finally:
        context.close()
    counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
    course, rules = 0, []
    for v in violations:
        counts[v["impact"]] = counts.get(v["impact"], 0) + v["nodes"]
        rules.append(v["id"])
        if v["impact"] in ("critical", "serious"):
            course += v["article"]
    return {"axe": counts, "axe_course": course, "axe_rules": sorted(rules)}


def lighthouse(cli: Path, url: str, workdir: Path) -> dict:
    """Lighthouse desktop scores, transferred bytes and the main timings of ``url``."""
    report = workdir / "report.json"
    subprocess.run(
        [
            "node",
            str(cli),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            "--preset=desktop",
            "--only-categories=accessibility,performance,seo,best-practices",
            f"--chrome-flags={' '.join(CHROME_FLAGS)}",
        ],
        check=True,
        env=dict(os.environ, CHROME_PATH=CHROMIUM),
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    data = json.loads(report.read_text())
    cats, audits = data["categories"], data["audits"]

    def score(name):
        return None if cats[name]["score"] is None else round(100 * cats[name]["score"])

    return {
        "accessibility": score("accessibility"),
        "performance": score("performance"),
        "seo": score("seo"),
        "best_practices": score("best-practices"),
        "transferred_bytes": int(audits["total-byte-weight"]["numericValue"]),
        "fcp_ms": round(audits["first-contentful-paint"]["numericValue"]),
        "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
        "tbt_ms": round(audits["total-blocking-time"]["numericValue"]),
        "cls": round(audits["cumulative-layout-shift"]["numericValue"], 3),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--page", action="append", help="audit only this page (repeatable)")
    parser.add_argument("--tools", type=Path, help="reuse npm packages fetched here before")
    parser.add_argument("--no-lighthouse", action="store_true")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        sys.exit(f"--site: no built website at {args.site} (run `make book`)")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tools = args.tools or Path(tmp)
        tools.mkdir(parents=True, exist_ok=True)
        axe, cli = fetch_tools(tools, not args.no_lighthouse)
        axe_source = axe.read_text()
        server, base = serve(args.site)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROME_FLAGS[1:]
            )
            try:
                for path in args.page or pages():
                    url = f"{base}/{path}"
                    line = {"page": path, "html_bytes": (args.site / path).stat().st_size}
                    if cli is not None:
                        line.update(lighthouse(cli, url, Path(tmp)))
                    line.update(axe_counts(browser, url, axe_source))
                    print(json.dumps(line), flush=True)
            finally:
                browser.close()
                server.shutdown()
                server.server_close()


if __name__ == "__main__":
    main()
