"""How to check the gradient of your own op with autograd_mini.testing and hypothesis.

1. Write the op as a primitive on numpy arrays and register its vector-Jacobian product.
2. ``gradcheck`` compares the backward pass with central differences in float64;
   ``gradgradcheck`` does the same for the second derivative.
3. hypothesis draws the shapes and values (``arrays``, ``shapes``, value ranges in ``DOMAINS``).
This script checks a correct softplus, then a wrong one, and prints what a failure report says.

    python examples/gradcheck_your_op.py [--examples 25] [--out out/]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from hypothesis import given, settings

import autograd_mini as am
from autograd_mini.testing import GradcheckError, arrays, gradcheck, gradgradcheck, shapes


@am.primitive
def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), stable for any x."""
    return np.logaddexp(0.0, x)


# The VJP is written with autograd_mini ops, so it can be differentiated again (gradgradcheck).
am.defvjp(softplus, lambda g, ans, x: g * am.sigmoid(x))


@am.primitive
def softplus_wrong(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


am.defvjp(softplus_wrong, lambda g, ans, x: g * am.tanh(x))  # a plausible-looking mistake


def check_correct(examples: int) -> int:
    """Run the property-based check on ``examples`` hypothesis examples; return how many ran."""
    ran = []

    # database=None: an example run leaves nothing behind but what it writes into --out
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(arrays(shapes(max_dims=3, max_side=4), low=-5.0, high=5.0))
    def prop(x: np.ndarray) -> None:
        assert gradcheck(softplus, x)
        assert gradgradcheck(softplus, x)
        ran.append(x.shape)

    prop()
    return len(ran)


def failure_report() -> str:
    """What gradcheck says about the wrong VJP."""
    try:
        gradcheck(softplus_wrong, np.array([[-1.0, 0.5], [2.0, 3.0]]))
    except GradcheckError as e:
        return str(e)
    raise AssertionError("the wrong VJP was not caught")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=25, help="hypothesis examples (default 25)")
    ap.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    args = ap.parse_args(argv)
    n = check_correct(args.examples)
    print(f"softplus: gradcheck and gradgradcheck passed on {n} generated arrays")
    report = failure_report()
    print("softplus with a wrong VJP, as gradcheck reports it:\n  " + report.replace("\n", "\n  "))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gradcheck_report.txt"
    path.write_text(f"passed on {n} generated arrays\n\nfailure report for a wrong VJP:\n{report}\n")
    print(f"wrote {path}")
    return {"examples": n, "report": report}


if __name__ == "__main__":
    main()
