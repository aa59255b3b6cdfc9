"""MkDocs hook: run every lab experiment during the build and put what it measured into the pages.

A page asks for an experiment with a line ``{{ lab NAME }}``; the hook replaces it with the
experiment's summary, plot (a PNG generated into the site as ``lab/NAME.png``), headline
numbers and the full numbers as JSON. ``{{ lab-index }}`` becomes a table of every
experiment with its verdict. So the guide shows what this build measured, never text written
in advance.

``TRAINWELL_DOCS_LAB=quick`` runs the experiments in their quick mode (seconds; for editing
the pages, not for publishing). An experiment that fails fails the build.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import re
import time

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.lab")
MARKER = re.compile(r"^\{\{\s*lab\s+([a-z0-9-]+)\s*\}\}\s*$", re.MULTILINE)
INDEX = re.compile(r"^\{\{\s*lab-index\s*\}\}\s*$", re.MULTILINE)

_results: dict = {}
_pages: dict[str, str] = {}  # experiment name -> src_uri of the page that shows it


def on_pre_build(config, **kwargs) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from trainwell import lab

    quick = os.environ.get("TRAINWELL_DOCS_LAB", "") == "quick"
    key = "quick" if quick else "full"
    if _results.get("key") == key:  # `mkdocs serve` rebuilds: keep the results of this process
        return
    _results.clear()
    start = time.perf_counter()
    for exp in lab.list_experiments():
        result = lab.run(exp.name, quick=quick)
        log.info("lab %s: %.1f s", exp.name, result.seconds)
        _results[exp.name] = result
    _results["key"] = key
    _pages.clear()
    guide = os.path.join(config["docs_dir"], "guide")
    for fname in sorted(os.listdir(guide)):
        if fname.endswith(".md"):
            with open(os.path.join(guide, fname), encoding="utf-8") as fh:
                for match in MARKER.finditer(fh.read()):
                    _pages.setdefault(match.group(1), f"guide/{fname}")
    log.info("lab: %d experiments in %.0f s", len(_results) - 1, time.perf_counter() - start)


def on_files(files, config, **kwargs):
    for name, result in _results.items():
        if name == "key":
            continue
        buf = io.BytesIO()
        result.figure.savefig(buf, format="png", dpi=100)
        files.append(File.generated(config, f"lab/{name}.png", content=buf.getvalue()))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    from trainwell.lab.markdown import to_markdown

    here = posixpath.dirname(page.file.src_uri)

    def render(match: re.Match) -> str:
        name = match.group(1)
        if name not in _results:
            raise KeyError(f"{page.file.src_uri} asks for the lab experiment {name!r}, which does not exist.")
        return to_markdown(_results[name], posixpath.relpath(f"lab/{name}.png", here or "."))

    markdown = MARKER.sub(render, markdown)
    if INDEX.search(markdown):
        markdown = INDEX.sub(lambda _m: _index(here), markdown)
    return markdown


def _index(here: str) -> str:
    from trainwell import lab

    rows = ["| experiment | the notes' claim | in this build | seconds |", "|---|---|---|---|"]
    for exp in lab.list_experiments():
        result = _results[exp.name]
        verdict = {True: "holds", False: "does not (fully) hold", None: "measured"}[result.holds]
        page = _pages.get(exp.name)
        link = posixpath.relpath(page, here or ".") if page else None
        name = f"[`{exp.name}`]({link})" if link else f"`{exp.name}`"
        rows.append(f"| {name} | {exp.claim} | **{verdict}** | {result.seconds:.0f} |")
    return "\n".join(rows) + "\n"
