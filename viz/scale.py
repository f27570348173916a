"""Gradient magnitude -> pen width and colour, on a log scale shared between diagrams."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import networkx as nx

from .render import quote

# ColorBrewer YlOrRd from its third class: yellow for small gradients, dark red for large ones
# (its two palest classes vanish on a white page, and a small gradient must still be seen).
COLOURS = ("#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
ZERO_COLOUR = "#9e9e9e"       # a zero gradient: dashed grey
NONFINITE_COLOUR = "#7b2fbe"  # inf or nan: a colour no magnitude gets
NONE_COLOUR = "#c8c8c8"       # no gradient flowed (a constant input)
MIN_WIDTH, MAX_WIDTH = 0.5, 5.0


@dataclass(frozen=True)
class MagnitudeScale:
    """log10 of the magnitude, clamped to [lo, hi], mapped to pen width and colour.

    Build one from several graphs with :meth:`from_graphs` and pass it to every ``draw`` call
    that should be compared: the same magnitude then looks the same in each picture.

    >>> s = MagnitudeScale(1e-4, 1.0)
    >>> s.encode(1.0)["color"], s.encode(1e-4)["color"]
    ('#800026', '#fed976')
    """

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (self.lo > 0 and self.hi > 0 and math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ValueError(f"MagnitudeScale: lo and hi must be finite and positive, got {self.lo}, {self.hi}")
        if self.lo > self.hi:
            raise ValueError(f"MagnitudeScale: lo {self.lo} is above hi {self.hi}")

    @classmethod
    def from_values(cls, values: Iterable[float | None]) -> "MagnitudeScale":
        """The range of the finite, positive magnitudes (1 to 1 if there are none)."""
        good = [v for v in values if v is not None and math.isfinite(v) and v > 0]
        if not good:
            return cls(1.0, 1.0)
        return cls(min(good), max(good))

    @classmethod
    def from_graphs(cls, *graphs: nx.DiGraph) -> "MagnitudeScale":
        """One scale for several exported graphs (shared when diagrams are compared)."""
        return cls.from_values(d.get("grad_norm") for G in graphs for _, _, d in G.edges(data=True))

    def position(self, v: float) -> float:
        """Where ``v`` falls on the scale, 0 (lo) to 1 (hi)."""
        a, b = math.log10(self.lo), math.log10(self.hi)
        if b - a < 1e-12:
            return 1.0
        return min(1.0, max(0.0, (math.log10(v) - a) / (b - a)))

    def encode(self, v: float | None, label: bool = False) -> dict[str, str]:
        """DOT edge attributes for magnitude ``v`` (None: nothing flowed)."""
        if v is None:
            return {"color": NONE_COLOUR, "penwidth": "0.6", "style": "dotted"}
        if not math.isfinite(v):
            return {"color": NONFINITE_COLOUR, "penwidth": str(MAX_WIDTH), "style": "bold",
                    "fontcolor": NONFINITE_COLOUR, "label": f"{v}"}
        if v == 0:
            out = {"color": ZERO_COLOUR, "penwidth": "0.8", "style": "dashed"}
        else:
            p = self.position(v)
            out = {"color": COLOURS[min(len(COLOURS) - 1, int(p * len(COLOURS)))],
                   "penwidth": f"{MIN_WIDTH + p * (MAX_WIDTH - MIN_WIDTH):.2f}"}
        if label:
            out["label"] = f"{v:.1e}"
        return out

    def legend(self, fontsize: float = 8) -> str:
        """DOT for a legend cluster: the colour bar from hi (top) to lo, and the zero and
        non-finite keys, in one column (the drawings run left to right, rankdir=LR).

        Plain nodes, not an HTML table: the embedded Graphviz has no HTML labels.
        """
        bar = [f'    legend_c{i} [label="", shape=box, style=filled, fillcolor="{c}", color="{c}", '
               'width=0.3, height=0.16, fixedsize=true];' for i, c in enumerate(COLOURS)]
        chain = (["legend_bad", "legend_zero", "legend_hi"] + [f"legend_c{i}" for i in reversed(range(len(COLOURS)))]
                 + ["legend_lo"])
        return "\n".join([
            "  subgraph cluster_legend {",
            f'    label={quote("size of the gradient")}; fontsize={fontsize:g}; style=rounded; color="#cccccc";',
            f'    node [shape=plaintext, fontsize={fontsize:g}, margin=0, height=0.16, style=""];',
            f"    legend_lo [label={quote(f'{self.lo:.2g}')}];",
            *bar,
            f"    legend_hi [label={quote(f'{self.hi:.2g}')}];",
            f'    legend_zero [label={quote("- - zero")}, fontcolor="{ZERO_COLOUR}"];',
            f'    legend_bad [label={quote("inf/nan")}, fontcolor="{NONFINITE_COLOUR}"];',
            "    { rank=same; " + " ".join(f"{n};" for n in chain) + " }",
            "    " + " -> ".join(chain) + " [style=invis];",
            "  }",
        ])
