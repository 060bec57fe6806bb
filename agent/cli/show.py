"""``mechanic show``: one stored feature's statistics, exemplars and input and output tokens."""

from __future__ import annotations

import click
from mechanic import store
from mechanic.tools import parse_feature

from .common import Context, echo_json, pass_ctx, user_errors


def _mark(tokens: list[str], acts, top: float, width: int = 24) -> str:
    """The window around its peak, activating tokens marked ⟦like this|level⟧ (1-10)."""
    import numpy as np
    from mechanic.agent.explainers import mark_token

    acts = np.asarray(acts, dtype=float)
    peak = int(np.argmax(np.abs(acts)))
    lo, hi = max(0, peak - width // 2), min(len(tokens), peak + width // 2)
    out = []
    for tok, a in zip(tokens[lo:hi], acts[lo:hi]):
        level = int(10 * max(a, 0.0) / top) if top > 0 else 0
        out.append(mark_token(tok, level) if level >= 1 else tok.replace("\n", "⏎"))
    return "".join(out)


@click.command()
@click.argument("feature")
@click.option("-n", "n_exemplars", type=click.IntRange(min=1), default=8, show_default=True,
              help="Exemplars to show per set.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@user_errors
def show(obj: Context, feature: str, n_exemplars: int, as_json: bool):
    """A stored feature: statistics, top and bottom exemplars, output-side tokens."""
    from mechanic.tools import input_tokens, output_tokens

    fid = parse_feature(feature)
    db = obj.db(must_exist=True)
    subject = obj.subject_with_directions()
    subject.site(fid)  # validates the layer and index against the model
    row = store.get_feature(db, subject.name, str(fid))
    if row is None:
        raise click.ClickException(
            f"{fid} is not in {obj.db_path} for model {subject.name}; "
            f"run `mechanic cache --layers {fid.layer if fid.layer is not None else 'L'}` first"
        )
    top = store.get_exemplars(db, row["id"], kind="top")
    bottom = store.get_exemplars(db, row["id"], kind="bottom")
    import numpy as np

    tokens = np.stack([e.tokens for e in top]) if top else np.zeros((0, 0), dtype=np.int32)
    acts = np.stack([e.activations for e in top]) if top else np.zeros((0, 0))
    inputs = input_tokens(tokens, acts, subject.tokenizer, k=10) if top else []
    outputs = output_tokens(subject, fid, k=10)
    if as_json:
        echo_json({
            "feature": str(fid),
            "stats": {k: row[k] for k in ("count", "mean", "var", "max", "min", "frac_active")},
            "quantiles": row["quantiles"],
            "input_tokens": inputs,
            "output_tokens": outputs,
            "top": [_exemplar_json(subject, e) for e in top[:n_exemplars]],
            "bottom": [_exemplar_json(subject, e) for e in bottom[:n_exemplars]],
        })
        return
    click.echo(f"{fid}   model {subject.name}")
    click.echo(
        f"  max {row['max']:.4g}  min {row['min']:.4g}  mean {row['mean']:.4g}  "
        f"std {row['var'] ** 0.5:.4g}  active {100 * row['frac_active']:.2f}% of {row['count']:,} tokens"
    )
    q = row["quantiles"] or {}
    if q:
        click.echo("  quantiles  " + "  ".join(f"p{float(k) * 100:g}={v:.3g}" for k, v in q.items()))
    if inputs:
        click.echo("  top input tokens   " + ", ".join(f"{t!r} ({m:.3g}, n={c})" for t, m, c in inputs))
    promoted = outputs.get("promoted") or []
    suppressed = outputs.get("suppressed") or []
    if promoted:
        click.echo("  promotes   " + ", ".join(repr(t) for t, _ in promoted))
        click.echo("  suppresses " + ", ".join(repr(t) for t, _ in suppressed))
    elif outputs.get("reason"):
        click.echo(f"  output side: {outputs['reason']}")
    peak = row["max"]
    click.echo(f"\n  top exemplars (activation level 0-10 of max {peak:.3g} marked ⟦token|level⟧)")
    for e in top[:n_exemplars]:
        click.echo(f"  {e.max_act:8.3f}  {_mark(subject.token_strings(e.tokens), e.activations, peak)}")
    if bottom:
        low = row["min"]
        click.echo(f"\n  bottom exemplars (most negative; marked by level of {low:.3g})")
        for e in bottom[:n_exemplars]:
            click.echo(f"  {float(np.min(e.activations)):8.3f}  "
                       f"{_mark(subject.token_strings(e.tokens), -np.asarray(e.activations), -low)}")


def _exemplar_json(subject, e) -> dict:
    return {
        "kind": e.kind,
        "rank": e.rank,
        "split": e.split,
        "max_act": e.max_act,
        "doc": e.doc,
        "tokens": subject.token_strings(e.tokens),
        "activations": [round(float(a), 5) for a in e.activations],
    }
