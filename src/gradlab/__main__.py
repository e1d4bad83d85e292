"""``python -m gradlab``: the same as the ``gradlab`` command."""

import sys

try:
    from gradlab.cli import run
except KeyboardInterrupt:  # Ctrl-C while Python loads the command line: no traceback
    sys.stderr.write("gradlab: interrupted\n")
    raise SystemExit(130) from None

run()
