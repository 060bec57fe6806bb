"""The ``mechanic`` command line: thin commands over the library, one module each.

Each command parses its options, calls one library function, and prints a table (or
JSON with ``--json``). A user mistake — a bad feature id, a layer out of range, an
unknown model, a missing database — is one clear line and a non-zero exit.
"""

from __future__ import annotations

import os
import signal

import click

from .activations import activations
from .ask import ask
from .bench import bench
from .cache import cache
from .common import Context
from .intervene import intervene
from .investigate import investigate
from .label import label
from .report import report
from .serve import serve
from .show import show

__all__ = ["COMMANDS", "cli", "main"]

DEFAULT_DB = "mechanic.db"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", default=lambda: os.environ.get("MECHANIC_DB", DEFAULT_DB), show_default="mechanic.db or $MECHANIC_DB",
              help="SQLite database to read and write.")
@click.option("--model", default=lambda: os.environ.get("MECHANIC_MODEL", "default"), show_default="default (embedded SmolLM2-135M-Instruct)",
              help="Subject model: 'default', a hub id, a local directory, a .gguf file, or tiny:FAMILY.")
@click.option("--sae", "saes", multiple=True, metavar="NAME=DIR",
              help="Register a sparse autoencoder (SAELens format) so sae:NAME:I features resolve. Repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")
@click.version_option(package_name="mechanic")
@click.pass_context
def cli(ctx, db_path: str, model: str, saes: tuple[str, ...], quiet: bool):
    """mechanic: explain, test and score the features of transformer language models.

    Features are addressed as mlp:LAYER:INDEX (MLP neuron), attn:LAYER:HEAD (attention
    head output norm), resid:LAYER:NAME (residual-stream direction) and sae:NAME:INDEX
    (sparse-autoencoder latent). Ranges work where several features make sense:
    mlp:5:0-49, mlp:5:1,7,9, mlp:5:*.
    """
    ctx.obj = Context(db_path, model, saes, quiet)


# In the order ``mechanic --help`` lists them.
COMMANDS = (cache, show, activations, intervene, label, investigate, ask, bench, serve, report)
for _command in COMMANDS:
    cli.add_command(_command)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    # `kill PID` stops a command as Ctrl-C does: the work in flight is lost, what is stored
    # stays, and the run's row says `interrupted` (a rerun of the command resumes)
    signal.signal(signal.SIGTERM, _stop)
    cli(prog_name="mechanic")
