"""The agent's commands: ``investigate`` and ``ask`` (an LLM testing hypotheses with
the instruments) and ``bench`` (explanation quality with ground truth). Registered
on the ``mechanic`` group in :mod:`mechanic.agent.cli`."""

from __future__ import annotations

import click

from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR

from .cli_common import Context, budget_options, echo_json, pass_ctx, split_csv, user_errors


@click.command()
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
@budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the investigation as JSON.")
@pass_ctx
@user_errors
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
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=split_csv(scorers),
                         seed=seed, corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm,
                         agent_tool_calls=budget_tools, agent_seconds=budget_seconds)
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    report = investigate_feature(db, subject, feats[0], config, progress=say)
    if as_json:
        echo_json(report)
        return
    click.echo(format_investigation(report))


@click.command()
@click.argument("question")
@click.option("--explainer", default="local", show_default=True,
              help="The LLM that plans: local (the embedded model), local:MODEL, or openai:MODEL.")
@click.option("--simulator", default=DEFAULT_SIMULATOR, show_default=True,
              help="For questions about one component: what scores its investigation, as in `investigate`.")
@click.option("--corpus", "source", default="default", show_default=True, help="Text source for capture, as in `cache`.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=64), default=20_000, show_default=True,
              help="Corpus tokens to capture when a component question needs a feature's exemplars.")
@budget_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@pass_ctx
@user_errors
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
        echo_json(answer.to_dict())
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


@click.command()
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
@user_errors
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
            echo_json({"run_a": compare[0], "run_b": compare[1], "rows": rows})
        else:
            click.echo(format_compare(rows, *compare), nl=False)
        return
    config = BenchConfig(suite=suite, methods=split_csv(methods), explainer=explainer, simulator=simulator, judge=judge,
                         scorers=split_csv(scorers), validity=not no_validity, limit=limit, k=k, seed=seed,
                         n_tokens=n_tokens, layer=layer)
    subject = obj.subject_with_directions()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    run = run_bench(obj.db(), subject, config, progress=say)
    summary = bench_summary(run.values, run_id=run.run_id, seed=seed)
    plots = [str(p) for p in write_plots(run.values, plots_dir, run.run_id)] if plots_dir else []
    if as_json:
        echo_json({"run_id": run.run_id, "suite": config.suite, "summary": summary, "skipped": run.skipped,
                    "plots": plots, "seconds": round(run.seconds, 1), "values": run.values})
        return
    click.echo(format_bench(summary), nl=False)
    if run.skipped:
        click.echo(f"{len(run.skipped)} suite features fire too rarely on this corpus sample to measure "
                   "(see bench_items.details): " + ", ".join(run.skipped))
    for p in plots:
        click.echo(f"plot: {p}")
    click.echo(f"bench run {run.run_id} in {run.seconds:.0f}s -> {obj.db_path}")
