"""``mechanic report``: the viewer's pages written as static HTML files in one folder,
linked to each other by relative file names, so they open from disk with no server.

What a static copy cannot do is noted on its pages: keyword and semantic search,
filters, the sorts other than by feature and by simulation score, and the
simulation overlay (computed on request by the server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mechanic import store

from .agent_page import AGENTS_PAGE
from .bench_page import bench_runs, static_pairs
from .html import Site
from .index_page import PAGE_SIZE
from .server import Viewer

__all__ = ["write_static"]


def write_static(db_path: str | Path, out_dir: str | Path, viewer: Viewer | None = None, *,
                 limit: int | None = None, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write every page (features up to ``limit`` in index order) into ``out_dir``;
    returns how many pages of each kind were written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site = Site(static=True)
    viewer = Viewer(db_path, viewer.services if viewer else None, site)
    db = viewer.connect()
    counts: dict[str, int] = {}

    def write(name: str, path: str, params: dict | None = None) -> None:
        (out / name).write_text(viewer.render(path, params or {}, db=db), encoding="utf-8")
        counts[path.split("/")[1] or "index"] = counts.get(path.split("/")[1] or "index", 0) + 1

    try:
        choices = viewer.choices(db)
        feature_ids: list[int] = []
        main = max(choices["models"], key=lambda m: m["features"]) if choices["models"] else None
        for model in choices["models"]:
            total = model["features"] if limit is None else min(limit, model["features"])
            if model is main:  # the index pages list the main model (the one the server shows first)
                for sort in ("feature", "sim"):
                    for number in range(1, max(1, -(-total // PAGE_SIZE)) + 1):
                        params = {"model": str(model["id"]), "sort": sort, "desc": "1" if sort != "feature" else "",
                                  "page": str(number)}
                        write(site.href("index", sort=sort, page=number), "/", params)
            rows, _ = store.summary_page(db, model_id=model["id"], limit=total, offset=0)
            feature_ids += [r["feature_id"] for r in rows]
        if main is None:
            write("index.html", "/")
        explanation_ids: list[int] = []
        for i, fid in enumerate(feature_ids):
            write(site.href("feature", fid), f"/feature/{fid}")
            explanation_ids += [e["id"] for e in store.get_explanations(db, feature_id=fid)]
            if progress and (i + 1) % 500 == 0:
                progress(f"{i + 1:,} of {len(feature_ids):,} feature pages")
        for eid in explanation_ids:
            write(site.href("explanation", eid), f"/explanation/{eid}")
        for run in store.find_runs(db):
            write(site.href("run", run["id"]), f"/run/{run['id']}")
        n_agents = store.count_agent_runs(db)
        for number in range(1, max(1, -(-n_agents // AGENTS_PAGE)) + 1):
            write(site.href("agents", page=number), "/agents", {"page": str(number)})
        offset = 0
        while True:
            batch = store.agent_run_list(db, limit=500, offset=offset)
            if not batch:
                break
            for a in batch:
                write(site.href("agent", a["id"]), f"/agent/{a['id']}")
            offset += len(batch)
        write(site.href("bench"), "/bench")
        runs = bench_runs(db)
        for run in runs:
            write(site.href("bench", run["id"]), f"/bench/{run['id']}")
        for a, b in static_pairs(runs):
            write(site.href("compare", a=a, b=b), "/compare", {"a": str(a), "b": str(b)})
    finally:
        db.conn.close()
    return counts
