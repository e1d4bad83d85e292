"""``python -m gradlab`` and the ``gradlab`` command: :func:`main`.

This module imports nothing at its top but :mod:`sys`, so that a Ctrl-C in the first
milliseconds, while everything else is imported, already meets :func:`main`'s handler.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Load the command line and run it (:func:`gradlab.cli.run`, which exits with the
    command's status); a Ctrl-C while it loads ends with status 130 and a line, not a
    traceback."""
    try:
        from gradlab.cli import run
    except KeyboardInterrupt:
        # nothing of gradlab's may be loaded (the Ctrl-C came inside its imports): end
        # here, as gradlab.process.exit_without_teardown would, with the status of Ctrl-C
        import os

        sys.stderr.flush()
        os.write(2, b"gradlab: interrupted\n")
        os._exit(130)
    run()


if __name__ == "__main__":
    main()
