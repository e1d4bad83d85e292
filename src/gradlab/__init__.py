"""gradlab: learn and run machine learning by gradient descent.

``import gradlab`` is light: it imports NumPy, never PyTorch or TensorFlow. The
engines are imported on first use.

The public API is the names in the ``__all__`` of the modules listed under "Public API"
in docs/architecture.md (``gradlab.models``, ``gradlab.data.images``, ``gradlab.optim``,
``gradlab.viz.monitor``...); every other module, and every name that starts with ``_``
or that its module's ``__all__`` does not list, is private and may change.
"""

from __future__ import annotations

__all__ = ["__version__"]

#: The installed gradlab's version (``gradlab --version`` prints it).
__version__ = "0.1.0"
