"""The ``mechanic`` command line: thin commands over the library.

Each command parses its options, calls one library function, and prints a table (or
JSON with ``--json``). A user mistake — a bad feature id, a layer out of range, an
unknown model, a missing database — is one clear line and a non-zero exit.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR

from .cli_agent import ask, bench, investigate
from .cli_common import Context, budget_options, echo_json, pass_ctx, split_csv, user_errors

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


# ------------------------------------------------------------------ cache


def _parse_layers(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise click.BadParameter(f"expected layers like 3,7 or 2-5, got {text!r}")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


@cli.command()
@click.option("--layers", required=True, help="Layers to capture, e.g. 3,7 or 2-5.")
@click.option("--site", type=click.Choice(["mlp", "attn", "resid"]), default="mlp", show_default=True,
              help="Which features of those layers: MLP neurons, attention heads, or residual dimensions.")
@click.option("--corpus", "source", default="default", show_default=True,
              help="Text source: 'default' (Python standard library prose+code), a .txt/.jsonl file or folder, or hf:NAME.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to read.")
@click.option("--window", "length", type=click.IntRange(min=4, max=4096), default=64, show_default=True,
              help="Tokens per window.")
@click.option("--top-k", type=click.IntRange(min=1), default=50, show_default=True, help="Top windows kept per feature.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Windows per forward pass.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@pass_ctx
@user_errors
def cache(obj: Context, layers, site, source, n_tokens, length, top_k, batch_size, seed, as_json):
    """Capture statistics and exemplars for every feature of some layers into the store.

    Resumable: features already stored for this model and corpus sample are skipped.
    """
    from mechanic.tools import CaptureConfig

    from .caching import cache_features

    subject = obj.subject()
    features = []
    for layer in _parse_layers(layers):
        features += subject.features(f"{site}:{layer}:*")
    config = CaptureConfig(top_k=top_k, batch_size=batch_size, seed=seed)
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


# ------------------------------------------------------------ activations


@cli.command()
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


# ------------------------------------------------------------------- show


def _mark(tokens: list[str], acts, top: float, width: int = 24) -> str:
    """The window around its peak, activating tokens marked [[like this]]^level (0-10)."""
    import numpy as np

    acts = np.asarray(acts, dtype=float)
    peak = int(np.argmax(np.abs(acts)))
    lo, hi = max(0, peak - width // 2), min(len(tokens), peak + width // 2)
    out = []
    for tok, a in zip(tokens[lo:hi], acts[lo:hi]):
        level = int(10 * max(a, 0.0) / top) if top > 0 else 0
        text = tok.replace("\n", "⏎")
        out.append(f"[[{text}]]^{level}" if level >= 1 else text)
    return "".join(out)


@cli.command()
@click.argument("feature")
@click.option("-n", "n_exemplars", type=click.IntRange(min=1), default=8, show_default=True,
              help="Exemplars to show per set.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@user_errors
def show(obj: Context, feature: str, n_exemplars: int, as_json: bool):
    """A stored feature: statistics, top and bottom exemplars, output-side tokens."""
    from mechanic.tools import input_tokens, output_tokens, parse_feature

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
    click.echo(f"\n  top exemplars (activation level 0-10 of max {peak:.3g} marked [[token]]^level)")
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


# -------------------------------------------------------------- intervene


@cli.command()
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
    from mechanic.tools import parse_feature
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


# ------------------------------------------------------------------ label


@cli.command()
@click.argument("features", nargs=-1, required=True)
@click.option("--methods", "--method", "methods", default="tokens,oneshot,bestofk", show_default=True,
              help="Explainers to run, comma separated: tokens, oneshot, bestofk, agent (an investigation per "
                   "feature), tiered (oneshot, then the agent where oneshot scores below --threshold).")
@click.option("--explainer", default="local", show_default=True,
              help="Explainer LLM: local (the embedded model), local:MODEL, or openai:MODEL (OPENAI_BASE_URL, OPENAI_API_KEY).")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="Simulator for the simulation, detection and fuzzing scorers and for best-of-k selection: "
                   "trained or embedding (offline, no LLM), or an LLM: local, local:MODEL, openai:MODEL.")
@click.option("--scorers", default="simulation,detection,embedding,intervention", show_default=True,
              help="Scorers, comma separated: simulation, detection, fuzzing, embedding, intervention.")
@click.option("--k", type=click.IntRange(min=1), default=5, show_default=True, help="Candidates for bestofk.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Explainer calls in flight at once (endpoints; the local model runs one at a time).")
@click.option("--n-top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Held-out top windows scored per feature.")
@click.option("--n-random", type=click.IntRange(min=0), default=5, show_default=True,
              help="Held-out random windows scored per feature.")
@click.option("--score-length", type=click.IntRange(min=4), default=32, show_default=True,
              help="Tokens per scored window (cropped around the peak).")
@click.option("--style", type=click.Choice(["auto", "chat", "fewshot"]), default="auto", show_default=True,
              help="Explainer prompt: few-shot completion over summarised evidence (small models) or chat over marked excerpts.")
@click.option("--corpus", "source", default="default", show_default=True, help="Text source for capture, as in `cache`.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to capture when features are missing.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the HTML report [default: label-report.html next to the database].")
@click.option("--threshold", type=float, default=0.3, show_default=True,
              help="tiered: run the agent where oneshot's simulation score on the select split is below this.")
@budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the table and summary as JSON.")
@pass_ctx
@user_errors
def label(obj: Context, features, methods, explainer, simulator, scorers, k, concurrency, n_top, n_random,
          score_length, style, source, n_tokens, seed, report_path, threshold, budget_llm, budget_tools,
          budget_seconds, as_json):
    """Explain FEATURES (e.g. mlp:15:0-19) and score every explanation on held-out data.

    Captures what is missing first, runs each method, scores each explanation and two
    floors (a random and a shuffled explanation) on the test split, stores everything,
    and prints a table with a summary per method. Resumable: rerun the same command
    and only the missing work is done.
    """
    from mechanic.web.report import write_report

    from .labeling import LabelConfig
    from .labeling import label as run_label
    from .summary import format_table, label_table

    config = LabelConfig(methods=split_csv(methods), explainer=explainer, simulator=simulator,
                         scorers=split_csv(scorers), k=k, n_top=n_top, n_random=n_random,
                         score_length=score_length, style=style, seed=seed,
                         corpus=source, n_tokens=n_tokens, threshold=threshold, agent_llm_calls=budget_llm,
                         agent_tool_calls=budget_tools, agent_seconds=budget_seconds)
    subject = obj.subject_with_directions()
    feats = [f for spec in features for f in subject.features(spec)]
    if not feats:
        raise click.UsageError("no features given")
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    summary = run_label(db, subject, feats, config, concurrency=concurrency, progress=say)
    names = [str(f) for f in feats]
    table = label_table(db, names, subject.name, summary.config_hash, seed=seed)
    path = Path(report_path) if report_path else Path(obj.db_path).resolve().parent / "label-report.html"
    write_report(path, db, table, model_name=subject.name, decode=subject.token_strings,
                 config={"methods": methods, "explainer": explainer, "simulator": simulator, "k": k, "run": summary.run_id})
    if as_json:
        echo_json({**table.to_dict(), "run_id": summary.run_id, "report": str(path),
                    "explained": summary.explained, "skipped": summary.skipped, "failed": summary.failed,
                    "scored": summary.scored, "seconds": round(summary.seconds, 1)})
        return
    click.echo(format_table(table))
    rate = 3600 * len(feats) / summary.seconds if summary.seconds else 0
    click.echo(f"\n{len(feats)} features, {summary.explained} explanations made ({summary.failed} failed), "
               f"{summary.skipped} already stored, {summary.scored} scored in {summary.seconds:.0f}s "
               f"({rate:,.0f} features/hour). Report: {path}")


# ------------------------------------------------------------ investigate


for _command in (investigate, ask, bench):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="mechanic")


if __name__ == "__main__":  # pragma: no cover
    main()
