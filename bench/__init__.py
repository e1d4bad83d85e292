"""Developer tools beside the benchmark (not shipped with the package).

The benchmark itself is :mod:`gradlab.bench` (``gradlab bench``). Here:
``experiments/``, measurable scripts behind engine decisions, run from the repository
root as ``python -m bench.experiments.NAME``; ``native/``, C programs that measure the
hardware. They import gradlab from the installed package.
"""
