"""The ``mechanic`` command line: thin commands over the library.

Each command parses its options, calls one library function, and prints a table (or
JSON with ``--json``). A user mistake — a bad feature id, a layer out of range, an
unknown model, a missing database — is one clear line and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
from functools import wraps
from pathlib import Path

import click

from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR
from mechanic.tools import MechanicError

DEFAULT_DB = "mechanic.db"


def _user_errors(fn):
    """Turn known errors into one line (click.ClickException); let bugs raise."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MechanicError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


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
            if not self.progress:  # quiet, or not a terminal: no library progress bars either
                from transformers.utils import logging as hf_logging

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
        from .caching import register_stored_directions

        subject = self.subject()
        if self.db_path == ":memory:" or Path(self.db_path).exists():
            register_stored_directions(self.db(), subject)
        return subject


pass_ctx = click.make_pass_decorator(Context)


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


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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
@_user_errors
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
        _echo_json(data)
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
@_user_errors
def activations(obj: Context, feature: str, texts: tuple[str, ...], as_json: bool):
    """Per-token activations of FEATURE on each of TEXTS."""
    from mechanic.tools import activations as read_activations

    subject = obj.subject_with_directions()
    feats = subject.features(feature)
    results = read_activations(subject, list(texts), feats)
    if as_json:
        _echo_json([{"text": r.text, "tokens": r.tokens, "activations": r.activations} for r in results])
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
@_user_errors
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
        _echo_json({
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
@_user_errors
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
        _echo_json({"feature": str(fid), "intervention": what, **effect.to_dict()})
        return
    click.echo(f"{what} on {effect.n_texts} text(s)")
    click.echo(f"  KL(clean || intervened) at the last token: {effect.kl:.4g}")
    if effect.loss_clean is not None:
        click.echo(f"  LM loss {effect.loss_clean:.4f} -> {effect.loss_intervened:.4f} ({effect.loss_delta:+.4f})")
    click.echo("  rises:  " + ", ".join(f"{t!r} {d:+.3g}" for t, d in effect.top_increased))
    click.echo("  falls:  " + ", ".join(f"{t!r} {d:+.3g}" for t, d in effect.top_decreased))


# ------------------------------------------------------------------ label


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _budget_options(fn):
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
@_budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the table and summary as JSON.")
@pass_ctx
@_user_errors
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

    config = LabelConfig(methods=_csv(methods), explainer=explainer, simulator=simulator, scorers=_csv(scorers), k=k,
                         n_top=n_top, n_random=n_random, score_length=score_length, style=style, seed=seed,
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
        _echo_json({**table.to_dict(), "run_id": summary.run_id, "report": str(path),
                    "explained": summary.explained, "skipped": summary.skipped, "failed": summary.failed,
                    "scored": summary.scored, "seconds": round(summary.seconds, 1)})
        return
    click.echo(format_table(table))
    rate = 3600 * len(feats) / summary.seconds if summary.seconds else 0
    click.echo(f"\n{len(feats)} features, {summary.explained} explanations made ({summary.failed} failed), "
               f"{summary.skipped} already stored, {summary.scored} scored in {summary.seconds:.0f}s "
               f"({rate:,.0f} features/hour). Report: {path}")


# ------------------------------------------------------------ investigate


@cli.command()
@click.argument("feature")
@click.option("--explainer", default="local", show_default=True,
              help="The agent's LLM: local (the embedded model), local:MODEL, or openai:MODEL.")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="What scores candidates (select split) and the final explanation (test split), as in `label`.")
@click.option("--scorers", default="simulation,detection,embedding", show_default=True,
              help="Held-out scorers for the final explanation, comma separated.")
@click.option("--corpus", "source", default="default", show_default=True, help="Text source for capture, as in `cache`.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to capture when the feature is missing.")
@click.option("--seed", type=int, default=0, show_default=True)
@_budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the investigation as JSON.")
@pass_ctx
@_user_errors
def investigate(obj: Context, feature, explainer, simulator, scorers, source, n_tokens, seed, budget_llm, budget_tools,
                budget_seconds, as_json):
    """Investigate FEATURE with the agent: hypotheses, experiments, verdicts, explanation.

    The agent forms competing hypotheses, designs texts and interventions that could
    refute them, runs them with the instruments, judges each one, and keeps the
    survivor that best predicts the feature on the select split. Prints the
    hypotheses with their verdicts, every experiment, the final explanation and its
    held-out (test split) scores. Everything is stored; a killed run resumes when
    the same command is run again.
    """
    from .agent_methods import investigate_feature
    from .labeling import LabelConfig

    subject = obj.subject_with_directions()
    feats = subject.features(feature)
    if len(feats) != 1:
        raise click.UsageError(f"investigate takes one feature, not {len(feats)}")
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=_csv(scorers),
                         seed=seed, corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm,
                         agent_tool_calls=budget_tools, agent_seconds=budget_seconds)
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    report = investigate_feature(db, subject, feats[0], config, progress=say)
    if as_json:
        _echo_json(report)
        return
    click.echo(format_investigation(report))


@cli.command()
@click.argument("question")
@click.option("--explainer", default="local", show_default=True,
              help="The LLM that plans: local (the embedded model), local:MODEL, or openai:MODEL.")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="For questions about one component: what scores its investigation, as in `investigate`.")
@click.option("--corpus", "source", default="default", show_default=True, help="Text source for capture, as in `cache`.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to capture when a component question needs a feature's exemplars.")
@_budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@pass_ctx
@_user_errors
def ask(obj: Context, question, explainer, simulator, source, n_tokens, budget_llm, budget_tools, budget_seconds,
        as_json):
    """Ask a question about the model; get claims that cite experiments.

    Understood: where is a concept represented ("where does the model represent the
    month?": probes over layers, then neurons), what does a component do ("what does
    mlp:15:42 do?": an investigation), which components cause a behaviour on a prompt
    ("which layers make 'The capital of France is' predict ' Paris'?": an ablation
    sweep), and which features relate to a concept (semantic search over stored
    explanations, then an activation check). The answer gives each claim with the ids
    of the experiments behind it, a confidence, and what was not tested; it is stored
    as an agent run.
    """
    from .agent_methods import investigate_feature
    from .asking import ask as run_ask
    from .labeling import LabelConfig
    from .llm import make_llm

    subject = obj.subject_with_directions()
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=("simulation",),
                         corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm, agent_tool_calls=budget_tools,
                         agent_seconds=budget_seconds)
    run_id = store.start_run(db, "ask", {"question": question, "explainer": explainer})
    from .caching import finishing

    with finishing(db, run_id):
        answer = run_ask(db, subject, question, make_llm(explainer, subject), run_id=run_id, max_llm_calls=budget_llm,
                         investigate_feature=lambda f: investigate_feature(db, subject, subject.features(f)[0], config,
                                                                           progress=say),
                         progress=say)
    if as_json:
        _echo_json(answer.to_dict())
        return
    if answer.status != "done":
        raise click.ClickException(f"could not answer (agent run {answer.agent_run_id}): {answer.error}")
    click.echo(f"{answer.kind} question, agent run {answer.agent_run_id}, confidence {answer.confidence}")
    for c in answer.claims:
        click.echo(f"- {c['text']}  [experiments {', '.join(f'#{i}' for i in c['experiments'][:12]) or 'none'}]")
    click.echo("not tested: " + "; ".join(answer.untested))


def format_investigation(report: dict) -> str:
    lines = [f"{report['feature']}: agent run {report['agent_run_id']} ({report['status']})", "", "hypotheses:"]
    for h in report["hypotheses"]:
        measured = " ".join(f"{k} {h[k]:.2f}" for k in ("precision", "recall", "causal_agreement")
                            if h.get(k) is not None)
        lines.append(f"  [{h['verdict'] or 'untested':>12}] r{h['round']} {h['text']}" + (f"  ({measured})" if measured else ""))
    lines += ["", "experiments:"]
    for e in report["experiments"]:
        first = (e["summary"] or "").splitlines()[0][:110] if e["summary"] else ""
        lines.append(f"  #{e['id']:<5} {e['tool']:<18} {first}")
    lines += ["", f"explanation: {report['explanation'] or '(none: ' + str(report.get('error')) + ')'}"]
    if report["scores"]:
        lines.append("held-out scores (test split): " + ", ".join(
            f"{s['scorer']}/{s['metric']}/{s['split']}={'n/a' if s['value'] is None else format(s['value'], '.3f')}"
            for s in report["scores"]))
    u = report["usage"] or {}
    lines.append(f"cost: {u.get('llm_calls', 0)} LLM calls, {u.get('prompt_tokens', 0) + u.get('completion_tokens', 0)} "
                 f"tokens, {u.get('tool_calls', 0)} tool calls, {u.get('seconds', 0):.0f}s")
    return "\n".join(lines)


# ------------------------------------------------------------------ bench


@cli.command()
@click.option("--suite", default="rules", show_default=True,
              help="Benchmark suite: rules (text-rule features), planted (probe directions in the model), "
                   "or records:PATH (OpenAI NeuronRecord / puzzle JSON files).")
@click.option("--methods", "--method", "methods", default="tokens,oneshot,bestofk", show_default=True,
              help="Explainers to compare, comma separated: tokens, oneshot, bestofk; agent and tiered on the "
                   "planted suite.")
@click.option("--explainer", default="local", show_default=True,
              help="Explainer LLM: local, local:MODEL or openai:MODEL.")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="What scores simulation, detection and fuzzing: an LLM spec as for --explainer, or an offline "
                   "simulator where available.")
@click.option("--judge", default="", help="LLM for the 3-way ground-truth judge [default: the explainer].")
@click.option("--scorers", default="simulation,detection,fuzzing,embedding", show_default=True,
              help="Scorers, comma separated (intervention applies to the planted suite only).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N features of the suite.")
@click.option("--k", type=click.IntRange(min=1), default=5, show_default=True, help="Candidates for bestofk.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens the rules and planted suites are measured on.")
@click.option("--layer", type=click.IntRange(min=0), default=None,
              help="planted: residual layer of the probe directions [default: the middle layer].")
@click.option("--no-validity", is_flag=True, help="Skip scoring the true description and decoys (scorer validity).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Write PNG plots (score distributions per method, score vs cost) to this folder.")
@click.option("--compare", "compare", type=int, nargs=2, default=None, metavar="RUN_A RUN_B",
              help="Compare two stored bench runs (B minus A, paired over features, 95% CIs) instead of running.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and per-feature values) as JSON.")
@pass_ctx
@_user_errors
def bench(obj: Context, suite, methods, explainer, simulator, judge, scorers, limit, k, n_tokens, layer, no_validity,
          seed, plots_dir, compare, as_json):
    """Benchmark explainers on features with known ground truth.

    Per method: held-out simulation, detection and fuzzing scores, a 3-way
    ground-truth choice (true description vs two decoys, judged by an LLM and by
    embeddings; chance 1/3), cosine to the truth, and cost per feature, each with a
    95% bootstrap CI over features, beside the random and shuffled floors. Scorer
    validity: how often each scorer ranks the truth above its decoys (chance 1/2).
    Stored as a bench run; --compare RUN_A RUN_B diffs two runs.
    """
    from .bench_report import bench_summary, compare_runs, format_bench, format_compare, write_plots
    from .benching import BenchConfig, run_bench

    if compare:
        rows = compare_runs(obj.db(must_exist=True), compare[0], compare[1], seed=seed)
        if as_json:
            _echo_json({"run_a": compare[0], "run_b": compare[1], "rows": rows})
        else:
            click.echo(format_compare(rows, *compare), nl=False)
        return
    config = BenchConfig(suite=suite, methods=_csv(methods), explainer=explainer, simulator=simulator, judge=judge,
                         scorers=_csv(scorers), validity=not no_validity, limit=limit, k=k, seed=seed,
                         n_tokens=n_tokens, layer=layer)
    subject = obj.subject_with_directions()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    run = run_bench(obj.db(), subject, config, progress=say)
    summary = bench_summary(run.values, run_id=run.run_id, seed=seed)
    plots = [str(p) for p in write_plots(run.values, plots_dir, run.run_id)] if plots_dir else []
    if as_json:
        _echo_json({"run_id": run.run_id, "suite": config.suite, "summary": summary, "skipped": run.skipped,
                    "plots": plots, "seconds": round(run.seconds, 1), "values": run.values})
        return
    click.echo(format_bench(summary), nl=False)
    if run.skipped:
        click.echo(f"{len(run.skipped)} suite features fire too rarely on this corpus sample to measure "
                   "(see bench_items.details): " + ", ".join(run.skipped))
    for p in plots:
        click.echo(f"plot: {p}")
    click.echo(f"bench run {run.run_id} in {run.seconds:.0f}s -> {obj.db_path}")


def main() -> None:
    cli(prog_name="mechanic")


if __name__ == "__main__":  # pragma: no cover
    main()
