"""Where is the code running? Notebook detection by what the shell can do.

Front ends differ in the class of their shell: classic Jupyter, JupyterLab and VS Code
run ipykernel's ``ZMQInteractiveShell``, Google Colab a subclass of it, and other hosts
their own. What matters for gradlab is a capability: an IPython shell attached to a
kernel, whose display publisher can replace an output in place (``update`` of a
``display_id``). A terminal IPython session has a shell but no kernel, so it gets the
terminal monitors.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any


def ipython_shell() -> Any:
    """The running IPython shell, or ``None`` (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if callable(get) else None


def in_notebook() -> bool:
    """True inside an IPython kernel whose outputs can be updated in place."""
    shell = ipython_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    publish = getattr(getattr(shell, "display_pub", None), "publish", None)
    if not callable(publish):
        return False
    try:
        params = inspect.signature(publish).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "update" or p.kind is p.VAR_KEYWORD for p in params)
