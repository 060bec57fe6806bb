"""``mechanic serve``: browse the store in a local web viewer (read-only)."""

from __future__ import annotations

import click

from .common import Context, pass_ctx, user_errors


@click.command()
@click.option("--db", "db_path", default=None, type=click.Path(dir_okay=False),
              help="Database to view [default: the global --db].")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default only accepts connections from this machine.")
@click.option("--no-semantic", is_flag=True, help="No semantic search (skips loading the sentence encoder).")
@pass_ctx
@user_errors
def serve(obj: Context, db_path, port, host, no_semantic):
    """Serve the viewer: features with their best explanations and scores (sort, filter,
    keyword and semantic search), each feature's heatmaps, explanations, scores beside
    the floors and simulation overlay, investigations and questions, and bench runs.

    Reads the database only (safe while `mechanic label` writes to it); pending schema
    migrations are applied once at start. Stop with Ctrl-C.
    """
    from mechanic.web.server import Viewer, make_server

    from ..viewer import prepare_store, viewer_services

    path = db_path or obj.db_path
    prepare_store(path)
    viewer = Viewer(path, viewer_services(semantic=not no_semantic))
    try:
        server = make_server(viewer, host, port, quiet=obj.quiet)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    click.echo(f"mechanic viewer on http://{host}:{server.server_address[1]}/ for {path} (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
