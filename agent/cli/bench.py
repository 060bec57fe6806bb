"""``mechanic bench``: explanation quality on features whose answer is known."""

from __future__ import annotations

import click
from mechanic.evals.offline import DEFAULT_SIMULATOR

from .common import Context, echo_json, endpoint_llms, pass_ctx, split_csv, timeout_option, user_errors


@click.command()
@click.option("--suite", default="rules", show_default=True,
              help="Benchmark suite: rules (text-rule features, on the stdlib corpus), prose (rules of English prose: "
                   "word classes, semantic categories, sentence position, quotes, numbers, negation, names; on the "
                   "prose corpus), poly (unions of two or three rules; poly-dev: the same "
                   "rules paired differently, to develop on), planted (probe "
                   "directions in the model), "
                   "or records:PATH (OpenAI NeuronRecord / puzzle JSON files).")
@click.option("--methods", "--method", "methods", default="tokens,oneshot,bestofk", show_default=True,
              help="Explainers to compare, comma separated: tokens, search, oneshot, bestofk, tiered (search, then "
                   "the agent where it scores low; best-of-k on suites without sites); agent on the planted suite.")
@click.option("--explainer", default="local", show_default=True,
              help="Explainer LLM: local, local:MODEL or openai:MODEL.")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="What scores simulation, detection and fuzzing: an LLM spec as for --explainer, or an offline "
                   "simulator where available.")
@click.option("--judge", default="", help="LLM for the 3-way ground-truth judge [default: the explainer].")
@click.option("--judges", default="llm,embedding", show_default=True,
              help="Ground-truth judges, comma separated: llm (the --judge model) and embedding (nearest by MiniLM "
                   "cosine). With the embedded 135M model, the embedding judge is the one to read.")
@click.option("--scorers", default="simulation,detection,fuzzing,topic", show_default=True,
              help="Scorers, comma separated: simulation, detection, fuzzing, topic (formerly 'embedding'), "
                   "intervention (the planted suite only).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N features of the suite.")
@click.option("--k", type=click.IntRange(min=1), default=5, show_default=True, help="Candidates for bestofk.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens the rules, prose, poly and planted suites are measured on.")
@click.option("--layer", type=click.IntRange(min=0), default=None,
              help="planted: residual layer of the probe directions [default: the middle layer].")
@click.option("--threshold", type=float, default=0.3, show_default=True,
              help="tiered: the search's select-split simulation score below which the agent (or, on suites "
                   "without sites, best-of-k) explains.")
@click.option("--no-validity", is_flag=True, help="Skip scoring the true description and decoys (scorer validity).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Write PNG plots (score distributions per method, score vs cost) to this folder.")
@click.option("--compare", "compare", type=int, nargs=2, default=None, metavar="RUN_A RUN_B",
              help="Compare two stored bench runs (B minus A, paired over features, 95% CIs) instead of running.")
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and per-feature values) as JSON.")
@pass_ctx
@user_errors
def bench(obj: Context, suite, methods, explainer, simulator, judge, judges, scorers, limit, k, n_tokens, layer, threshold,
          no_validity, seed, plots_dir, compare, timeout, as_json):
    """Benchmark explainers on features with known ground truth.

    Per method: held-out simulation, detection and fuzzing scores, a 3-way
    ground-truth choice (true description vs two decoys, judged by an LLM and by
    embeddings; chance 1/3), cosine to the truth, and cost per feature, each with a
    95% bootstrap CI over features, beside the random and shuffled floors. Scorer
    validity: how often each scorer ranks the truth above its decoys (chance 1/2).
    Stored as a bench run; --compare RUN_A RUN_B diffs two runs.
    """
    from ..bench import BenchConfig, bench_summary, compare_runs, format_bench, format_compare, run_bench, write_plots
    from ..pipeline import Models, canonical_scorers

    if compare:
        rows = compare_runs(obj.db(must_exist=True), compare[0], compare[1], seed=seed)
        if as_json:
            echo_json({"run_a": compare[0], "run_b": compare[1], "rows": rows})
        else:
            click.echo(format_compare(rows, *compare), nl=False)
        return
    scorers, notices = canonical_scorers(split_csv(scorers))
    for notice in notices:
        click.echo(f"note: {notice}", err=True)
    config = BenchConfig(suite=suite, methods=split_csv(methods), explainer=explainer, simulator=simulator, judge=judge,
                         judges=split_csv(judges),
                         scorers=scorers, validity=not no_validity, limit=limit, k=k, seed=seed,
                         n_tokens=n_tokens, layer=layer, threshold=threshold)
    subject = obj.subject_with_directions()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    make_llm = endpoint_llms(timeout)
    # a dead endpoint fails before the database is opened (run_bench's own check then costs nothing)
    Models(subject, config.label_config(), make_llm).preflight(
        extra=(config.judge or config.explainer,) if "llm" in config.judges else ())
    run = run_bench(obj.db(), subject, config, progress=say, make_llm=make_llm)
    summary = bench_summary(run.values, run_id=run.run_id, seed=seed)
    plots = [str(p) for p in write_plots(run.values, plots_dir, run.run_id)] if plots_dir else []
    if as_json:
        echo_json({"run_id": run.run_id, "suite": config.suite, "summary": summary, "skipped": run.skipped,
                    "plots": plots, "seconds": round(run.seconds, 1), "values": run.values})
        return
    elsewhere, elsewhere_lines = _validity_elsewhere(obj.db(), run.values, seed) if no_validity else ({}, [])
    click.echo(format_bench(summary, elsewhere, elsewhere_lines), nl=False)
    if run.skipped:
        click.echo(f"{len(run.skipped)} suite features fire too rarely on this corpus sample to measure "
                   "(see bench_items.details): " + ", ".join(run.skipped))
    for p in plots:
        click.echo(f"plot: {p}")
    click.echo(f"bench run {run.run_id} in {run.seconds:.0f}s -> {obj.db_path}")


def _validity_elsewhere(db, values, seed: int) -> tuple[dict, list[str]]:
    """For a run that did not measure validity: each column's figure from the store's
    latest bench run or the shipped figures ({column: cell}) and the lines saying which."""
    from ..pipeline import PRIMARY
    from ..pipeline.validity import column_validity, format_validity, validity_marks

    models: dict[str, set[str]] = {}
    for v in values:
        model = (v.get("details") or {}).get("scorer_model")
        if model and v["metric"] in {c for c, *_ in PRIMARY}:
            models.setdefault(v["metric"], set()).add(model)
    validity = column_validity(db, {c: sorted(m) for c, m in models.items()}, PRIMARY, seed=seed)
    return validity_marks(validity, list(validity)), format_validity(validity)
