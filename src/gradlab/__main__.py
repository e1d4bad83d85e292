"""``python -m gradlab`` and the ``gradlab`` command: :func:`main`."""

import sys
from typing import NoReturn

from gradlab.process import exit_with


def main() -> NoReturn:
    """Load the command line and run it (:func:`gradlab.cli.run`); a Ctrl-C while it loads
    ends with status 130 and a line, not a traceback."""
    try:
        from gradlab.cli import run
    except KeyboardInterrupt:
        sys.stderr.write("gradlab: interrupted\n")
        exit_with(130)
    run()


if __name__ == "__main__":
    main()
