"""``mechanic label``: explain and score features, with a table and an HTML report."""

from __future__ import annotations

from pathlib import Path

import click
from mechanic.evals.offline import DEFAULT_SIMULATOR
from mechanic.tools import check_source

from ..pipeline.config import DEFAULT_SCORERS
from .common import Context, budget_options, echo_json, endpoint_llms, pass_ctx, split_csv, timeout_option, user_errors


@click.command()
@click.argument("features", nargs=-1, required=True)
@click.option("--methods", "--method", "methods", default="tokens,oneshot,bestofk", show_default=True,
              help="Explainers to run, comma separated: tokens, search (descriptions composed from a grammar and "
                   "chosen by the simulator, no LLM), oneshot, bestofk, agent (an investigation per feature), tiered "
                   "(search, then the agent where search scores below --threshold).")
@click.option("--explainer", default="local", show_default=True,
              help="Explainer LLM: local (the embedded model), local:MODEL, or openai:MODEL (OPENAI_BASE_URL, OPENAI_API_KEY).")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="Simulator for the simulation, detection and fuzzing scorers and for best-of-k selection: "
                   "trained or embedding (offline, no LLM), or an LLM: local, local:MODEL, openai:MODEL.")
@click.option("--scorers", default=",".join(DEFAULT_SCORERS), show_default=True,
              help="Scorers, comma separated: simulation, detection, fuzzing, topic (whether whole windows are about "
                   "the explanation's topic; formerly 'embedding'), intervention. The default holds the scorers "
                   "whose measured validity is at least 0.70.")
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
@click.option("--keep-first-position", is_flag=True,
              help="Measure each window's first token too when capturing (by default it is context only).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the HTML report [default: label-report.html next to the database].")
@click.option("--threshold", type=float, default=0.3, show_default=True,
              help="tiered: run the agent where the searched description's simulation score on the select split is below this.")
@budget_options
@timeout_option
@click.option("--max-failed", type=click.FloatRange(min=0, max=1), default=0.5, show_default=True, metavar="SHARE",
              help="Exit with status 1 when more than this share of the explanations made failed (they are "
                   "stored with their cause either way).")
@click.option("--json", "as_json", is_flag=True, help="Print the table and summary as JSON.")
@pass_ctx
@user_errors
def label(obj: Context, features, methods, explainer, simulator, scorers, k, concurrency, n_top, n_random,
          score_length, style, source, n_tokens, seed, keep_first_position, report_path, threshold, budget_llm, budget_tools,
          budget_seconds, timeout, max_failed, as_json):
    """Explain FEATURES (e.g. mlp:15:0-19) and score every explanation on held-out data.

    Captures what is missing first, runs each method, scores each explanation and two
    floors (a random and a shuffled explanation) on the test split, stores everything,
    and prints a table with a summary per method. Resumable: rerun the same command
    and only the missing work is done.
    """
    from mechanic.web.report import write_report

    from ..pipeline import LabelConfig, Models, canonical_scorers, format_table, label_table
    from ..pipeline import label as run_label

    scorers, notices = canonical_scorers(split_csv(scorers))
    for notice in notices:
        click.echo(f"note: {notice}", err=True)

    config = LabelConfig(methods=split_csv(methods), explainer=explainer, simulator=simulator,
                         scorers=scorers, k=k, n_top=n_top, n_random=n_random,
                         score_length=score_length, style=style, seed=seed,
                         corpus=source, n_tokens=n_tokens, threshold=threshold, agent_llm_calls=budget_llm,
                         agent_tool_calls=budget_tools, agent_seconds=budget_seconds,
                         keep_first_position=keep_first_position)
    subject = obj.subject_with_directions()
    feats = [f for spec in features for f in subject.features(spec)]
    if not feats:
        raise click.UsageError("no features given")
    check_source(source, seed)  # a bad corpus and a dead endpoint fail before the database is opened
    make_llm = endpoint_llms(timeout)
    Models(subject, config, make_llm).preflight()  # before the database is opened: a dead endpoint writes nothing
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    summary = run_label(db, subject, feats, config, concurrency=concurrency, progress=say, make_llm=make_llm)
    names = [str(f) for f in feats]
    table = label_table(db, names, subject.name, summary.config_hash, seed=seed)
    path = Path(report_path) if report_path else Path(obj.db_path).resolve().parent / "label-report.html"
    write_report(path, db, table, model_name=subject.name, decode=subject.token_strings,
                 config={"methods": methods, "explainer": explainer, "simulator": simulator, "k": k, "run": summary.run_id})
    if as_json:
        echo_json({**table.to_dict(), "run_id": summary.run_id, "report": str(path),
                    "explained": summary.explained, "skipped": summary.skipped, "failed": summary.failed,
                    "failures": summary.failures, "scored": summary.scored, "score_errors": summary.score_errors,
                    "seconds": round(summary.seconds, 1)})
    else:
        click.echo(format_table(table))
        rate = 3600 * len(feats) / summary.seconds if summary.seconds else 0
        click.echo(f"\n{len(feats)} features, {summary.explained} explanations made ({summary.failed} failed), "
                   f"{summary.skipped} already stored, {summary.scored} scored"
                   + (f" ({summary.score_errors} scorer results failed)" if summary.score_errors else "")
                   + f" in {summary.seconds:.0f}s ({rate:,.0f} features/hour). Report: {path}")
        for cause, n in list(summary.failures.items())[:5]:
            click.echo(f"  {n} failed: {cause}")
    check_failed_share(summary.failed, summary.explained, max_failed, summary.failures)


def check_failed_share(failed: int, made: int, max_failed: float, failures: dict[str, int]) -> None:
    """Exit 1 (after the table and report are out) when too much of the work failed."""
    if made and failed / made > max_failed:
        cause = next(iter(failures), "see the table")
        raise click.ClickException(f"{failed} of {made} explanations failed (more than --max-failed "
                                   f"{max_failed:g}); most often: {cause}")
