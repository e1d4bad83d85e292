"""The benchmark behind ``gradlab bench``: every job's paths side by side, in one run.

Part of the installed package, so ``gradlab bench`` works from a wheel; it imports
nothing from outside the package, and the heavy libraries (PyTorch, JAX, Keras,
scikit-learn, matplotlib) only inside the functions that need them.

Modules
-------
plan
    How big a run is (:class:`~gradlab.bench.plan.Plan`: full, quick, or a test's).
run
    Runs every table of a plan and returns plain data.
linreg, classify
    The jobs: linear regression; softmax regression and the MLP (warm and cold).
peers
    JAX and Keras trained on the same job, in this process or a fresh one.
cold
    Fresh processes timed from start to exit (``gradlab train`` and the peers).
baselines
    Faithful re-implementations of the tutorials' own code, and scikit-learn rows.
floors, timing
    What the hardware allows, measured in the same run; best-of-N timing.
rows, report
    A table's rows and ratios; Markdown, JSON and the PNG chart.
tables
    Scaling with the amount of data; one problem under every engine.
update_rules
    A whole NumPy-engine training step under each update rule, as a ratio to plain SGD's.
parallel
    The MLP on torch with threads or with worker processes, and one data-parallel step
    taken apart (needs PyTorch).
real_data
    The accuracy targets on the real MNIST and Fashion-MNIST files
    (``python -m gradlab.bench.real_data``).
"""
