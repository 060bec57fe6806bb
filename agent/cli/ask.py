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
    month?": corpus tokens labelled by the simulator and word-class rules, probes over
    every layer with a control task, aligned neurons, a steering check), what does a
    component do ("what does mlp:15:42 do?": an investigation), which components cause
    a behaviour on a prompt given in quotes ("which layers make 'The capital of France
    is' predict ' Paris'?": every layer zeroed against random pushes), and which
    features relate to a concept (every MLP neuron and the stored explanations,
    measured on the concept's tokens). The route and its reason are printed; a
    question that fits no kind, or a behaviour question without a prompt, is refused.
    Each claim carries its number with a 95% interval, its experiments and what would
    refute it; the confidence comes from those numbers. Cost is printed last.
    """
    from ..ask import ask as run_ask
    from ..llm import preflight
    from ..pipeline import LabelConfig, investigate_feature

    subject = obj.subject_with_directions()
    make_llm = endpoint_llms(timeout)
    if explainer.startswith("openai:"):  # an endpoint is checked before the database is opened
        planner = make_llm(explainer, subject)
        preflight(planner)
    else:  # an in-process model loads on its first call: most questions never need it
        planner = _LazyLLM(explainer, lambda: make_llm(explainer, subject))
    db = obj.db()
    say = (lambda msg: click.echo(msg, err=True)) if not obj.quiet else None
    config = LabelConfig(methods=("agent",), explainer=explainer, simulator=simulator, scorers=("simulation",),
                         corpus=source, n_tokens=n_tokens, agent_llm_calls=budget_llm, agent_tool_calls=budget_tools,
                         agent_seconds=budget_seconds)
    run_id = store.start_run(db, "ask", {"question": question, "explainer": explainer})

    with store.finishing(db, run_id):
        answer = run_ask(db, subject, question, planner, run_id=run_id, max_llm_calls=budget_llm, source=source,
                         investigate_feature=lambda f: investigate_feature(db, subject, subject.features(f)[0], config,
                                                                           progress=say, make_llm=make_llm),
                         progress=say)
    if as_json:
        echo_json(answer.to_dict())
        return
    u = answer.usage
    cost = f"cost: {u['llm_calls']} LLM calls, {u['tool_calls']} tool calls, {u['seconds']:.1f} s"
    if answer.status != "done":
        click.echo(cost, err=True)
        what = "refused" if answer.status == "refused" else "could not answer"
        raise click.ClickException(f"{what} (agent run {answer.agent_run_id}): {answer.error}")
    click.echo(f"route: {answer.kind} ({answer.route.get('reason', '')})")
    click.echo(f"{answer.kind} question, agent run {answer.agent_run_id}, confidence {answer.confidence}")
    for c in answer.claims:
        click.echo(f"- {c['text']}")
        ids = ", ".join(f"#{i}" for i in c["experiments"][:12]) or "none"
        click.echo(f"    experiments {ids}; refuted by: {c.get('refuted_by') or 'n/a'}")
    click.echo("not tested: " + "; ".join(answer.untested))
    click.echo(cost)


class _LazyLLM:
    """The planner LLM, loaded on its first call: most questions never need it."""

    def __init__(self, name: str, build):
        self.name, self._build, self._llm = name, build, None

    def complete(self, *args, **kwargs):
        if self._llm is None:
            self._llm = self._build()
        return self._llm.complete(*args, **kwargs)
