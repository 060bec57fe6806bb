"""``python -m mechanic.agent.cli``: the same as the ``mechanic`` command."""

from . import main

main()
