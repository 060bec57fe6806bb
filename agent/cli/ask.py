"""``mechanic ask``: a question about the model, answered with claims that cite experiments."""

from __future__ import annotations

import click
from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR

from .common import Context, budget_options, echo_json, endpoint_llms, pass_ctx, timeout_option, user_errors


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
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@pass_ctx
@user_errors
def ask(obj: Context, question, explainer, simulator, source, n_tokens, budget_llm, budget_tools, budget_seconds,
        timeout, as_json):
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
    from ..ask import ask as run_ask
    from ..llm import preflight
    from ..pipeline import LabelConfig, investigate_feature

    subject = obj.subject_with_directions()
    make_llm = endpoint_llms(timeout)
    planner = make_llm(explainer, subject)
    preflight(planner)
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=("simulation",),
                         corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm, agent_tool_calls=budget_tools,
                         agent_seconds=budget_seconds)
    run_id = store.start_run(db, "ask", {"question": question, "explainer": explainer})

    with store.finishing(db, run_id):
        answer = run_ask(db, subject, question, planner, run_id=run_id, max_llm_calls=budget_llm,
                         investigate_feature=lambda f: investigate_feature(db, subject, subject.features(f)[0], config,
                                                                           progress=say, make_llm=make_llm),
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
