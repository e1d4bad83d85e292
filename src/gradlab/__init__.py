"""gradlab: learn and run machine learning by gradient descent.

``import gradlab`` is light: it imports NumPy, never PyTorch or TensorFlow. The
engines are imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
