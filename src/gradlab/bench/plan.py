"""How big a benchmark run is: the sizes, epochs and repeats of every table.

:meth:`Plan.full` is the run of record (about 10 minutes on 2 cores, the data-parallel
section about one more), :meth:`Plan.quick` a reduced one (a few minutes); tests build
smaller plans of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    """Every size the benchmark uses.

    Attributes
    ----------
    name : str
        "full", "quick", or a test's own name.
    n_train, n_test : int
        Generated images (ignored when the real files are read).
    epochs : int
        Of every classifier path.
    repeats : int
        Rounds of the classifiers' fast paths, and runs of the tutorial's pipeline.
    linreg_repeats : int
        Runs of each small linear-regression path.
    linreg_points : int
        Points of the large linear-regression job.
    cold_repeats : int
        Rounds of fresh processes (0: no cold tables).
    scaling_points : tuple of int
        Point counts of the linear-regression scaling table.
    scaling_images : tuple of int
        Image counts of the classifiers' scaling table.
    engine_points : tuple of int
        Point counts of the engines table.
    engine_steps : int
        Descent steps timed in the engines table.
    matmul_size, bandwidth_bytes, floor_repeats : int
        The floors' square GEMM size, array size and repeats.
    tutorial, sklearn : bool
        Whether to run the tutorial's code and scikit-learn.
    peers : tuple of str, optional
        Which peers to run; None: every installed one.
    update_rules : bool
        Whether to time the update rules' whole steps (:mod:`gradlab.bench.update_rules`).
    rule_rounds, rule_calls : int
        Their interleaved rounds, and steps of each rule per round.
    parallel : bool
        Whether to run the data-parallel section (:mod:`gradlab.bench.parallel`; it needs
        PyTorch).
    parallel_images, parallel_test, parallel_epochs : int
        Its training and test images (the first of the run's) and epochs: fewer than the
        classifier jobs', to keep the section to about a minute on 2 cores.
    parallel_rounds : int
        Its interleaved rounds; each path reports its best.
    parallel_procs : int
        Workers of its data-parallel rows and of its step probe.
    parallel_steps : int
        Steps of each part timed by the step probe (the medians).
    """

    name: str
    n_train: int
    n_test: int
    epochs: int
    repeats: int
    linreg_repeats: int
    linreg_points: int
    cold_repeats: int
    scaling_points: tuple[int, ...]
    scaling_images: tuple[int, ...]
    engine_points: tuple[int, ...]
    engine_steps: int
    matmul_size: int
    bandwidth_bytes: int
    floor_repeats: int
    tutorial: bool = True
    sklearn: bool = True
    peers: tuple[str, ...] | None = field(default=None)
    update_rules: bool = True
    rule_rounds: int = 20
    rule_calls: int = 20
    parallel: bool = True
    parallel_images: int = 20000
    parallel_test: int = 5000
    parallel_epochs: int = 2
    parallel_rounds: int = 2
    parallel_procs: int = 2
    parallel_steps: int = 200

    @classmethod
    def full(cls) -> Plan:
        """The run of record: the real shape (60,000 + 10,000 images), 10 epochs."""
        return cls(
            name="full",
            n_train=60000,
            n_test=10000,
            epochs=10,
            repeats=3,
            linreg_repeats=3,
            linreg_points=10**7,
            cold_repeats=2,
            scaling_points=(10**3, 10**4, 10**5, 10**6, 10**7),
            scaling_images=(1000, 3000, 10000, 30000, 60000),
            engine_points=(100, 1_000_000),
            engine_steps=200,
            matmul_size=2048,
            bandwidth_bytes=512 << 20,
            floor_repeats=3,
            rule_rounds=20,
            rule_calls=20,
            parallel_images=20000,
            parallel_test=5000,
            parallel_epochs=2,
            parallel_rounds=2,
            parallel_steps=200,
        )

    @classmethod
    def quick(cls) -> Plan:
        """A tenth of the images, 2 epochs, smaller arrays, one round."""
        return cls(
            name="quick",
            n_train=6000,
            n_test=1000,
            epochs=2,
            repeats=1,
            linreg_repeats=3,
            linreg_points=10**5,
            cold_repeats=1,
            scaling_points=(10**3, 10**4, 10**5),
            scaling_images=(1000, 3000),
            engine_points=(100, 10_000),
            engine_steps=50,
            matmul_size=1024,
            bandwidth_bytes=128 << 20,
            floor_repeats=2,
            rule_rounds=5,
            rule_calls=20,
            parallel_images=6000,
            parallel_test=1000,
            parallel_epochs=1,
            parallel_rounds=1,
            parallel_steps=100,
        )
