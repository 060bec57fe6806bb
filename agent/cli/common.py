"""What the ``mechanic`` commands share: the context object (the database and the
subject model, opened on first use), one-line user errors, JSON output and option
helpers."""

from __future__ import annotations

import json
import sqlite3
import sys
import warnings
from functools import wraps
from pathlib import Path

import click
from mechanic import store
from mechanic.tools import MechanicError, MechanicWarning

__all__ = ["Context", "pass_ctx", "echo_json", "split_csv", "budget_options", "endpoint_llms", "timeout_option",
           "user_errors"]


def user_errors(fn):
    """Turn known errors into one line (click.ClickException); let bugs raise. A
    database that fails mid-run (locked past the busy timeout, disk full, made
    read-only) is a known error too: what was committed stays, the line says why."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warnings(warnings.showwarning)
                return fn(*args, **kwargs)
        except (MechanicError, store.StoreError) as exc:
            raise click.ClickException(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            ctx = click.get_current_context(silent=True)
            path = ctx.find_object(Context).db_path if ctx and ctx.find_object(Context) else "the database"
            raise click.ClickException(store.database_problem(exc, path)) from exc

    return wrapper


def _one_line_warnings(show):
    """``warnings.showwarning`` that prints mechanic's own warnings as one line."""

    def one_line(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MechanicWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)

    return one_line


class Context:
    def __init__(self, db_path: str, model: str, saes: tuple[str, ...], quiet: bool):
        self.db_path = db_path
        self.model_spec = model
        self.sae_specs = saes
        self.quiet = quiet
        self._subject = None
        self._db = None

    @property
    def progress(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def db(self, must_exist: bool = False):
        if self._db is None:
            if must_exist and self.db_path != ":memory:" and not Path(self.db_path).exists():
                raise click.ClickException(
                    f"no database at {self.db_path}; run `mechanic cache` first or pass --db PATH"
                )
            self._db = store.open_db(self.db_path)
        return self._db

    def subject(self):
        if self._subject is None:
            from mechanic.tools import load_sae, load_subject

            if not self.quiet:
                click.echo(f"loading {self.model_spec} ...", err=True)
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # library advice about model classes is not for our users
            if not self.progress:  # quiet, or not a terminal: no library progress bars either
                hf_logging.disable_progress_bar()
            subject = load_subject(self.model_spec)
            for spec in self.sae_specs:
                name, sep, path = spec.partition("=")
                if not sep or not name or not path:
                    raise click.ClickException(f"--sae takes NAME=DIR, got {spec!r}")
                subject.add_sae(load_sae(path, name=name))
            self._subject = subject
        return self._subject

    def subject_with_directions(self):
        from ..pipeline import register_stored_directions

        subject = self.subject()
        if self.db_path == ":memory:" or Path(self.db_path).exists():
            register_stored_directions(self.db(), subject)
        return subject


pass_ctx = click.make_pass_decorator(Context)


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def split_csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def budget_options(fn):
    """The agent's budgets, shared by investigate, label and ask."""
    for option in reversed([
        click.option("--budget-llm", type=click.IntRange(min=1), default=24, show_default=True,
                     help="Agent: most LLM calls per investigation (retries count)."),
        click.option("--budget-tools", type=click.IntRange(min=1), default=24, show_default=True,
                     help="Agent: most instrument calls per investigation."),
        click.option("--budget-seconds", type=click.FloatRange(min=1), default=900.0, show_default=True,
                     help="Agent: most seconds per investigation; then it finalizes with what it has."),
    ]):
        fn = option(fn)
    return fn


def timeout_option(fn):
    """``--timeout SECONDS``: how long one endpoint request may take before it is retried."""
    return click.option("--timeout", "timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
                        metavar="SECONDS",
                        help="Endpoint LLMs (openai:MODEL): seconds one request may take before it is "
                             "retried (bounded retries with backoff).")(fn)


def endpoint_llms(timeout: float):
    """``make_llm`` with the request timeout of ``--timeout``, building each spec once
    per command (so an endpoint checked before the database is opened is not checked
    again by the run)."""
    from ..llm import make_llm

    built: dict[tuple[str, int], object] = {}

    def make(spec: str, subject=None):
        key = (spec, id(subject))
        if key not in built:  # only endpoints take a timeout
            endpoint = spec.partition(":")[0] == "openai"
            built[key] = make_llm(spec, subject, timeout=timeout) if endpoint else make_llm(spec, subject)
        return built[key]

    return make
