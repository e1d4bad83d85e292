"""``python -m gradlab``: the same as the ``gradlab`` command."""

from gradlab.cli import main

raise SystemExit(main())
