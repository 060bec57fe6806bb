"""``mechanic investigate``: the agent on one feature: hypotheses, experiments, verdicts."""

from __future__ import annotations

import click
from mechanic.evals.offline import DEFAULT_SIMULATOR

from .common import Context, budget_options, echo_json, endpoint_llms, pass_ctx, split_csv, timeout_option, user_errors


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
@click.option("--keep-first-position", is_flag=True,
              help="Measure each window's first token too when capturing (by default it is context only).")
@budget_options
@click.option("--guided", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="on: the first steps of each round test each hypothesis in turn; off: the LLM chooses every "
                   "experiment within its budget; auto: on for the embedded and other local models, off for "
                   "endpoints with native function calling.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also explain the feature in one call of the same LLM, scored the same way, for the cost ledger "
                   "(score gained per extra call).")
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the investigation as JSON.")
@pass_ctx
@user_errors
def investigate(obj: Context, feature, explainer, simulator, scorers, source, n_tokens, seed, keep_first_position,
                budget_llm, budget_tools, budget_seconds, guided, baseline, timeout, as_json):
    """Investigate FEATURE with the agent: hypotheses, experiments, verdicts, explanation.

    The agent forms competing hypotheses, designs texts and interventions that could
    refute them, runs them with the instruments, judges each one, and keeps the
    survivor that best predicts the feature on the select split. Prints the
    hypotheses with their verdicts, every experiment, the final explanation and its
    held-out (test split) scores. Everything is stored; a killed run resumes when
    the same command is run again.
    """
    from ..pipeline import LabelConfig, Models, investigate_feature

    subject = obj.subject_with_directions()
    feats = subject.features(feature)
    if len(feats) != 1:
        raise click.UsageError(f"investigate takes one feature, not {len(feats)}")
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=split_csv(scorers),
                         seed=seed, corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm,
                         agent_tool_calls=budget_tools, agent_seconds=budget_seconds, agent_guided=guided,
                         keep_first_position=keep_first_position)
    make_llm = endpoint_llms(timeout)
    Models(subject, config, make_llm).preflight()  # before the database is opened: a dead endpoint writes nothing
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    report = investigate_feature(db, subject, feats[0], config, progress=say, baseline=baseline, make_llm=make_llm)
    if as_json:
        echo_json(report)
        return
    click.echo(format_investigation(report))


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
    lines += _ledger_lines(report.get("ledger") or {})
    return "\n".join(lines)


def _ledger_lines(ledger: dict) -> list[str]:
    """The cost ledger: the agent beside one call of the same LLM, both scored on the test split."""
    if not ledger.get("agent"):
        return []
    value = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    a = ledger["agent"]
    lines = ["", "cost ledger (held-out simulation on the test split, never the agent's probes):",
             f"  agent    {a['llm_calls']:>3} calls {a['tokens']:>7} tokens {a['experiments']:>3} experiments "
             f"{a['probes']:>3} probe texts  score {value(a['score'])}"]
    if ledger.get("oneshot"):
        b = ledger["oneshot"]
        lines.append(f"  one-shot {b['llm_calls']:>3} calls {b['tokens']:>7} tokens                               "
                     f"score {value(b['score'])}")
        gain = ledger.get("gain_per_call")
        lines.append(f"  score gained per call: {'n/a' if gain is None else f'{gain:+.4f}'}")
    return lines


# ------------------------------------------------------------------ bench
