"""``mechanic report``: the viewer's pages as static HTML files that open from disk."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Context, pass_ctx, user_errors


@click.command()
@click.option("--db", "db_path", default=None, type=click.Path(dir_okay=False),
              help="Database to report on [default: the global --db].")
@click.option("--out", "out_dir", default="report", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write the pages into (index.html is the start page).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Write pages for only the first N features of each model (index order).")
@pass_ctx
@user_errors
def report(obj: Context, db_path, out_dir, limit):
    """Write the viewer's pages as static HTML into a folder: the feature index (by feature
    and by simulation score), feature pages with heatmaps and scores, explanations with
    every score, runs, investigations and questions, bench runs and their comparisons.
    No network assets; search, filters and the simulation overlay need `mechanic serve`.
    """
    from mechanic.web.server import Viewer
    from mechanic.web.static import write_static

    from ..viewer import prepare_store, viewer_services

    path = db_path or obj.db_path
    prepare_store(path)
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    counts = write_static(path, out_dir, Viewer(path, viewer_services(semantic=False, simulate=False)),
                          limit=limit, progress=say)
    total = sum(counts.values())
    click.echo(f"{total:,} pages ({', '.join(f'{v:,} {k}' for k, v in counts.items())}) in "
               f"{Path(out_dir).resolve() / 'index.html'}")
