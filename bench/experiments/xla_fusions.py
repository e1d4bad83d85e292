"""Experiment: what XLA makes of one SGD step, beside the passes the NumPy engine makes.

Compiles the benchmark's JAX epoch (:mod:`gradlab.bench.peers.jax_sgd`) for softmax
regression and the MLP at batch 256 and prints the scanned step's schedule: one line per
kernel XLA runs (a fusion, a product, a copy), with its output shape and the operations
fused into it. Nothing is timed. Run from the repository root::

    python -m bench.experiments.xla_fusions [--hlo DIR]

Not part of the benchmark: it backs the comparison of passes in docs/performance.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from gradlab.models._init import init_params

NETWORKS = {"softmax": ((784, 10), "normal"), "mlp": ((784, 200, 200, 10), "kaiming")}
#: Operations that are bookkeeping, not work, inside a fused computation.
QUIET = {"parameter", "constant", "bitcast", "broadcast", "get-tuple-element", "tuple", "iota"}


def computations(text: str) -> dict[str, list[str]]:
    """HLO text -> {computation name: its instruction lines}."""
    out: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head:
            name = head.group(1)
            out[name] = []
        elif name and line.strip() and line.strip() != "}":
            out[name].append(line.strip())
    return out


def ops_of(lines: list[str]) -> list[str]:
    """The operation names of a computation's instructions, bookkeeping left out."""
    ops = []
    for line in lines:
        m = re.match(r"(?:ROOT )?%\S+ = \S+(?: \S+)? ([\w\-]+)\(", line)
        if m and m.group(1) not in QUIET:
            ops.append(m.group(1))
    return ops


def schedule(text: str) -> list[str]:
    """One line per kernel of the scanned step (the while loop's body)."""
    comps = computations(text)
    body = next(
        (n for n, lines in comps.items() if any("dynamic-update-slice" in x for x in lines)
         and any("fusion(" in x for x in lines) and "fused" not in n),
        None,
    )  # fmt: skip
    if body is None:
        return ["(no loop body found)"]
    out = []
    for line in comps[body]:
        m = re.match(r"(?:ROOT )?%(\S+) = (\S+(?:\{[^}]*\})?) ([\w\-]+)\(", line)
        if not m or m.group(3) in QUIET:
            continue
        _, shape, op = m.groups()
        shape = re.sub(r"\{[^}]*\}", "", shape)
        if op == "fusion":
            called = re.search(r"calls=%([\w.\-]+)", line)
            kind = re.search(r"kind=(\w+)", line)
            inner = ops_of(comps.get(called.group(1), [])) if called else []
            label = f"fusion {kind.group(1) if kind else ''}: {' + '.join(inner) or '(copy)'}"
        else:
            label = op
        out.append(f"{shape:>28s}  {label}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hlo", type=Path, help="also write each optimised HLO module here")
    args = p.parse_args()
    import jax.numpy as jnp

    from gradlab.bench.peers import jax_sgd

    X = jnp.zeros((60000, 784), jnp.uint8)
    Y = jnp.zeros(60000, jnp.int32)
    order = jnp.arange(60000, dtype=jnp.int32)
    for model, (sizes, init) in NETWORKS.items():
        p0 = init_params(sizes, init, 0.01, 0)
        params = tuple(
            (jnp.asarray(p0[f"W{k}"]), jnp.asarray(p0[f"b{k}"])) for k in range(1, len(sizes))
        )
        lowered = jax_sgd.train_epoch.lower(params, X, Y, order, np.float32(0.1), batch=256)
        text = lowered.compile().as_text()
        if args.hlo:
            args.hlo.mkdir(parents=True, exist_ok=True)
            (args.hlo / f"{model}.hlo.txt").write_text(text)
        lines = schedule(text)
        print(f"\n== {model} {sizes}: the scanned step, {len(lines)} kernels ==")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
