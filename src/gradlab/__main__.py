"""``python -m gradlab``: the same as the ``gradlab`` command."""

from gradlab.cli import run

run()
