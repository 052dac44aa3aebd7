"""Render the PR comment and the check run as a reviewer sees them, to PNG.

    python3 docs/screenshots.py [--out docs/screenshots] [--mermaid path/to/mermaid.min.js]

Three real reports, from repositories built here and checked by reviewbot's engine: the
incident PR (the demo repository), a PR that reaches 150 handlers and breaks 50 of them
through one shared package, and the incident's check run (title, summary, text). Markdown
goes through cmark-gfm (`cmarkgfm`, GitHub's renderer) with GitHub's raw-HTML allowance,
under a small stylesheet that follows github.com's, and headless Chromium (Debian's
`chromium`) takes the picture. Mermaid blocks are drawn when `--mermaid` names a local
copy of mermaid.min.js (e.g. from `npm pack mermaid`); otherwise they show as code.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reviewbot.app.job import checks  # noqa: E402
from reviewbot.demo import commit_all, git, write_files, write_incident_repo  # noqa: E402
from reviewbot.localrun import check_repo  # noqa: E402
from reviewbot.render import to_markdown, verdict  # noqa: E402

WIDTH = 1012  # the width of a comment on a pull request's conversation page

STYLE = """
body { margin: 0; background: #fff; color: #1f2328; font: 14px/1.5 -apple-system,
  BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
.box { margin: 16px; border: 1px solid #d1d9e0; border-radius: 6px; }
.head { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
  color: #59636e; border-radius: 6px 6px 0 0; }
.head b { color: #1f2328; }
.body { padding: 16px; }
h1, h2, h3 { margin: 16px 0 8px; line-height: 1.25; font-weight: 600; }
h3 { font-size: 1.25em; } h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; }
.body > :first-child { margin-top: 0; }
p, ul, table, details, pre { margin: 0 0 16px; }
ul { padding-left: 2em; }
code { font: 85% ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: rgba(129,139,152,.12); padding: .2em .4em; border-radius: 6px; }
pre { background: #f6f8fa; padding: 16px; border-radius: 6px; overflow: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
summary { cursor: pointer; }
li:has(> input[type=checkbox]) { list-style: none; }
li > input[type=checkbox] { margin: 0 .3em 0 -1.3em; }
.check { font-size: 20px; font-weight: 600; margin: 16px; }
"""


def markdown_html(text: str) -> str:
    import cmarkgfm
    from cmarkgfm.cmark import Options

    out = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    # GitHub draws ```mermaid blocks as diagrams
    return re.sub(r'<pre lang="mermaid"><code>(.*?)</code></pre>',
                  lambda m: f'<pre class="mermaid">{m.group(1)}</pre>', out, flags=re.S)


def page(parts: list[str], mermaid: Path | None) -> str:
    script = ""
    if mermaid is not None:
        script = (f"<script>{mermaid.read_text()}</script><script>mermaid.initialize("
                  "{startOnLoad: true, theme: 'default'});</script>")
    return (f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>"
            f"{''.join(parts)}{script}")


def comment_page(body: str, mermaid: Path | None) -> str:
    return page(['<div class="box"><div class="head"><b>reviewbot</b> <span>bot</span> '
                 'commented</div><div class="body">', markdown_html(body), "</div></div>"],
                mermaid)


def check_page(report, mermaid: Path | None) -> str:
    icon = {"failure": "❌", "neutral": "⚠️"}.get(report.conclusion, "✅")
    return page([f'<div class="check">{icon} reviewbot / import check</div>',
                 f'<div class="box"><div class="head"><b>{html.escape(verdict(report))}'
                 '</b></div><div class="body">', markdown_html(checks.summary(report)),
                 "</div></div>", '<div class="box"><div class="body">',
                 markdown_html(checks.details(report)), "</div></div>"], mermaid)


def shoot(chromium: str, html_text: str, out: Path, work: Path) -> None:
    """Two passes: the page's height, then the picture at that height."""
    src = work / (out.stem + ".html")
    src.write_text(html_text.replace(
        "</style>", "</style><script>addEventListener('load', () => setTimeout(() => "
                    "document.title = 'h=' + document.documentElement.scrollHeight, 500))"
                    "</script>", 1))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=3000", f"--window-size={WIDTH},1000"]
    dom = subprocess.run([*flags, "--dump-dom", src.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    found = re.search(r"<title>h=(\d+)</title>", dom)
    height = min(int(found.group(1)) if found else 4000, 16_000)
    flags[-1] = f"--window-size={WIDTH},{height}"
    subprocess.run([*flags, f"--screenshot={out}", src.as_uri()], capture_output=True,
                   timeout=120, check=True)
    print(f"{out}: {WIDTH}x{height}")


def wide_repo(repo: Path, n: int = 150, broken: int = 50) -> tuple[str, str]:
    """n SAM functions over one shared layer package; the PR moves a name that `broken` of
    them import out of the package's `__init__.py`."""
    lines = ["Transform: AWS::Serverless-2016-10-31", "Resources:", "  Common:",
             "    Type: AWS::Serverless::LayerVersion",
             "    Properties: {ContentUri: layers/common/}"]
    files = {"layers/common/python/goals_common/__init__.py":
             "from .errors import GoalError, GoalValidationError\n",
             "layers/common/python/goals_common/errors.py":
             "class GoalError(Exception):\n    pass\n\n\n"
             "class GoalValidationError(GoalError):\n    pass\n"}
    for i in range(n):
        name = f"svc_{i:03d}_handler"
        lines += [f"  Svc{i:03d}:", "    Type: AWS::Serverless::Function", "    Properties:",
                  f"      CodeUri: services/{name}/", "      Handler: app.handler",
                  "      Runtime: python3.12", "      Layers: [!Ref Common]"]
        wanted = "GoalValidationError" if i < broken else "GoalError"
        files[f"services/{name}/app.py"] = (f"from goals_common import {wanted}\n\n\n"
                                            f"def handler(event, context):\n"
                                            f"    return {wanted}.__name__\n")
    files["template.yaml"] = "\n".join(lines) + "\n"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, files)
    base = commit_all(repo, "150 functions")
    write_files(repo, {"layers/common/python/goals_common/__init__.py":
                       "from .errors import GoalError\n"})
    return base, commit_all(repo, "goals_common: export only GoalError")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--mermaid", type=Path, help="a local mermaid.min.js")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: no chromium on PATH (Debian: apt-get install chromium)",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        commits = write_incident_repo(work / "goals")
        incident = check_repo(str(work / "goals"), "main", commits["pr"])
        base, head = wide_repo(work / "wide")
        wide = check_repo(str(work / "wide"), base, head)
        url = "https://github.com/acme/goals/pull/42/checks"
        shoot(chromium, comment_page(to_markdown(incident, details_url=url), args.mermaid),
              args.out / "incident-comment.png", work)
        shoot(chromium, comment_page(to_markdown(wide, details_url=url), args.mermaid),
              args.out / "comment-150-handlers.png", work)
        shoot(chromium, check_page(incident, args.mermaid), args.out / "incident-check-run.png",
              work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
