"""``mechanic activations``: per-token activations of a feature on given texts."""

from __future__ import annotations

import click

from .common import Context, echo_json, pass_ctx, user_errors


@click.command()
@click.argument("feature")
@click.argument("texts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@user_errors
def activations(obj: Context, feature: str, texts: tuple[str, ...], as_json: bool):
    """Per-token activations of FEATURE on each of TEXTS."""
    from mechanic.tools import activations as read_activations

    subject = obj.subject_with_directions()
    feats = subject.features(feature)
    results = read_activations(subject, list(texts), feats)
    if as_json:
        echo_json([{"text": r.text, "tokens": r.tokens, "activations": r.activations} for r in results])
        return
    for r in results:
        for fid, acts in r.activations.items():
            click.echo(f"{fid}  {r.text!r}")
            for tok, a in zip(r.tokens, acts):
                click.echo(f"  {tok!r:>16}  {a:+.4f}")
