"""``mechanic cache``: capture statistics and exemplars of whole layers into the store."""

from __future__ import annotations

import click
from mechanic.tools import CaptureConfig, check_source

from .common import Context, echo_json, pass_ctx, user_errors


def _parse_layers(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise click.BadParameter(f"expected layers like 3,7 or 2-5, got {text!r}")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


@click.command()
@click.option("--layers", required=True, help="Layers to capture, e.g. 3,7 or 2-5.")
@click.option("--site", type=click.Choice(["mlp", "attn", "resid"]), default="mlp", show_default=True,
              help="Which features of those layers: MLP neurons, attention heads, or residual dimensions.")
@click.option("--corpus", "source", default="default", show_default=True,
              help="Text source: 'default' (English prose and Python code, mixed), 'prose', 'stdlib' (Python standard "
                   "library prose+code), a .txt/.jsonl file or folder, or hf:NAME.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to read.")
@click.option("--window", "length", type=click.IntRange(min=4, max=4096), default=64, show_default=True,
              help="Tokens per window.")
@click.option("--top-k", type=click.IntRange(min=1), default=50, show_default=True, help="Top windows kept per feature.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Windows per forward pass.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--keep-first-position", is_flag=True,
              help="Measure each window's first token too (by default it is context only: many units read high "
                   "on whatever token comes first). Stored apart from captures without it.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@pass_ctx
@user_errors
def cache(obj: Context, layers, site, source, n_tokens, length, top_k, batch_size, seed, keep_first_position, as_json):
    """Capture statistics and exemplars for every feature of some layers into the store.

    Resumable: features already stored for this model and corpus sample are skipped.
    """

    from ..pipeline import cache_features

    subject = obj.subject()
    features = []
    for layer in _parse_layers(layers):
        features += subject.features(f"{site}:{layer}:*")
    config = CaptureConfig(top_k=top_k, batch_size=batch_size, seed=seed, first_position=0 if keep_first_position else 1)
    check_source(source)  # before the database is opened: a bad corpus writes nothing
    summary = cache_features(obj.db(), subject, features, source=source, n_tokens=n_tokens, length=length,
                             config=config, progress=obj.progress)
    if as_json:
        data = summary.to_dict()
        data.pop("features")
        echo_json(data)
        return
    click.echo(
        f"{summary.captured} features captured, {summary.skipped} already stored "
        f"({summary.n_tokens:,} tokens, {summary.tokens_per_second:,.0f} tok/s) -> {obj.db_path}"
    )
