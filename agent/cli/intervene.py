"""``mechanic intervene``: ablate, steer or clamp a feature and show the next-token effect."""

from __future__ import annotations

from pathlib import Path

import click
from mechanic import store
from mechanic.tools import parse_feature

from .common import Context, echo_json, pass_ctx, user_errors


@click.command()
@click.argument("feature")
@click.argument("texts", nargs=-1, required=True)
@click.option("--ablate", type=click.Choice(["zero", "mean", "resample"]), help="Ablate the feature.")
@click.option("--steer", type=float, help="Add VALUE to the feature's activation at every position.")
@click.option("--clamp", type=float, help="Set the feature's activation to VALUE at every position.")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Tokens to list per direction.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@user_errors
def intervene(obj: Context, feature: str, texts, ablate, steer, clamp, k, as_json):
    """Ablate or steer FEATURE on TEXTS; report the effect on the next-token distribution."""
    from mechanic.tools import ablate as do_ablate
    from mechanic.tools import steer as do_steer

    chosen = [name for name, v in (("--ablate", ablate), ("--steer", steer), ("--clamp", clamp)) if v is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --ablate, --steer, --clamp")
    fid = parse_feature(feature)
    subject = obj.subject_with_directions()
    if ablate:
        mean = None
        if ablate == "mean" and (obj.db_path == ":memory:" or Path(obj.db_path).exists()):
            row = store.get_feature(obj.db(), subject.name, str(fid))
            mean = row["mean"] if row else None
        effect = do_ablate(subject, fid, list(texts), method=ablate, mean=mean, k=k)
        what = f"{ablate}-ablating {fid}" + (" (mean from the store)" if mean is not None else "")
    elif steer is not None:
        effect = do_steer(subject, fid, list(texts), add=steer, k=k)
        what = f"adding {steer:g} to {fid}"
    else:
        effect = do_steer(subject, fid, list(texts), clamp=clamp, k=k)
        what = f"clamping {fid} to {clamp:g}"
    if as_json:
        echo_json({"feature": str(fid), "intervention": what, **effect.to_dict()})
        return
    click.echo(f"{what} on {effect.n_texts} text(s)")
    click.echo(f"  KL(clean || intervened) at the last token: {effect.kl:.4g}")
    if effect.loss_clean is not None:
        click.echo(f"  LM loss {effect.loss_clean:.4f} -> {effect.loss_intervened:.4f} ({effect.loss_delta:+.4f})")
    click.echo("  rises:  " + ", ".join(f"{t!r} {d:+.3g}" for t, d in effect.top_increased))
    click.echo("  falls:  " + ", ".join(f"{t!r} {d:+.3g}" for t, d in effect.top_decreased))
