"""The strongest peers, trained side by side with gradlab on the same job.

Modules
-------
jax_sgd
    JAX as an expert writes it: one ``jax.jit``-compiled epoch, ``lax.scan`` over the
    batches, the gather and the cast inside the compiled step, plain SGD.
keras_fit
    Keras 3 ``model.fit`` on the TensorFlow backend, in-memory arrays.
worker
    The entry point of a fresh process that trains one peer once (the cold time:
    imports and compilation included).

Each peer trains the same network (784-10 or 784-200-200-10), from the same initial
weights as gradlab, with plain SGD at the same learning rate and batch size, and reports
the test accuracy after every epoch. Both are optional: :func:`available` says which
are installed, without importing them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

#: The peers, by name: the module that must be importable for each.
REQUIRES = {"jax": "jax", "keras": "keras"}


def available() -> list[str]:
    """The peers whose libraries are installed (checked without importing them)."""
    return [name for name, module in REQUIRES.items() if importlib.util.find_spec(module)]


#: The distribution whose version each peer's row reports.
DISTRIBUTIONS = {"jax": ("jax", "jaxlib"), "keras": ("keras", "tensorflow-cpu", "tensorflow")}


def version(name: str) -> str:
    """The installed versions behind peer ``name``, e.g. ``"jax 0.10.2, jaxlib 0.10.2"``."""
    parts = []
    for dist in DISTRIBUTIONS[name]:
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)
