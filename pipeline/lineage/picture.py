"""A picture of one run's DAG: its components coloured by state and the artifacts that flowed between them."""
from __future__ import annotations

import dataclasses
import io
import os
from typing import Dict, List, Set, Tuple, Union

from pipeline.reporting import run_summary

STATE_COLOURS = {'COMPLETE': '#b7e1cd', 'CACHED': '#c9daf8', 'FAILED': '#f4c7c3'}
OTHER_STATE_COLOUR = '#fce8b2'


@dataclasses.dataclass(frozen=True)
class Dag:
  """The nodes of one run and the artifacts that flowed between them."""
  run_id: str
  nodes: List[Tuple[str, str]]  # (node id, state)
  edges: List[Tuple[str, str, str]]  # (from node, to node, artifact types)


def run_dag(summary: run_summary.RunSummary) -> Dag:
  """A run's components and, between them, the artifacts one made (or resolved) and another used."""
  made_by: Dict[int, str] = {}  # the producer of an artifact wins over a resolver that passed it on.
  for component in summary.components:
    for artifacts in component.resolved.values():
      made_by.update((a.id, component.node_id) for a in artifacts)
  for component in summary.components:
    for artifacts in component.outputs.values():
      made_by.update((a.id, component.node_id) for a in artifacts)
  flows: Dict[Tuple[str, str], Set[str]] = {}
  for component in summary.components:
    for artifacts in component.inputs.values():
      for artifact in artifacts:
        source = made_by.get(artifact.id)
        if source and source != component.node_id:
          flows.setdefault((source, component.node_id), set()).add(artifact.type)
  return Dag(summary.run_id, [(c.node_id, c.state) for c in summary.components],
             [(s, t, ', '.join(sorted(types))) for (s, t), types in flows.items()])


def dag_dot(dag: Dag) -> str:
  """The DAG in Graphviz's DOT language."""
  lines = [f'digraph "{dag.run_id}" {{', '  rankdir=LR;', '  node [shape=box, style="rounded,filled"];']
  for node, state in dag.nodes:
    colour = STATE_COLOURS.get(state, OTHER_STATE_COLOUR)
    lines.append(f'  "{node}" [label="{node}\\n{state.lower()}", fillcolor="{colour}"];')
  lines += [f'  "{s}" -> "{t}" [label="{types}"];' for s, t, types in dag.edges]
  return '\n'.join(lines + ['}']) + '\n'


def dag_layers(dag: Dag) -> Dict[str, int]:
  """Each node's column: the length of the longest chain of flows that leads to it."""
  depth = {node: 0 for node, _ in dag.nodes}
  for _ in dag.nodes:
    for source, target, _ in dag.edges:
      depth[target] = max(depth[target], depth[source] + 1)
  return depth


def draw_dag(dag: Dag, target: Union[str, io.BytesIO], image_format: str = 'png') -> None:
  """Draws the DAG left to right with matplotlib, nodes coloured by state, to a file name or a buffer."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from matplotlib.patches import Patch  # pylint: disable=g-import-not-at-top
  depth = dag_layers(dag)
  columns: Dict[int, List[str]] = {}
  for node, _ in dag.nodes:
    columns.setdefault(depth[node], []).append(node)
  rows = max((len(nodes) for nodes in columns.values()), default=1)
  position = {node: (3.0 * col, (rows - 1) / 2 - i) for col, nodes in columns.items()
              for i, node in enumerate(nodes)}
  figure = Figure(figsize=(2.2 * (len(columns) or 1) + 1, 1.1 * rows + 1.2))
  axes = figure.subplots()
  boxes = {node: axes.text(*position[node], f'{node}\n{state.lower()}', ha='center', va='center', fontsize=8,
                           bbox={'boxstyle': 'round,pad=0.4', 'ec': '#333333',
                                 'fc': STATE_COLOURS.get(state, OTHER_STATE_COLOUR)})
           for node, state in dag.nodes}
  for source, target_node, _ in dag.edges:
    axes.annotate('', xy=(0, 0.5), xycoords=boxes[target_node], xytext=(1, 0.5), textcoords=boxes[source],
                  arrowprops={'arrowstyle': '->', 'color': '#555555', 'shrinkA': 4, 'shrinkB': 4,
                              'connectionstyle': 'arc3,rad=0.06'})
  axes.set_xlim(-1.4, 3.0 * max(columns, default=0) + 1.4)
  axes.set_ylim(-rows / 2 - 0.2, rows / 2 + 0.2)
  axes.axis('off')
  states = sorted({state for _, state in dag.nodes})
  axes.legend(handles=[Patch(color=STATE_COLOURS.get(s, OTHER_STATE_COLOUR), label=s.lower()) for s in states],
              loc='lower right', fontsize=7, frameon=False)
  axes.set_title(f'Run {dag.run_id}', fontsize=9)
  figure.savefig(target, format=image_format, bbox_inches='tight', dpi=110)


def write_dag(dag: Dag, path: str) -> None:
  """Writes the DAG picture; the file's extension picks the format (.dot: Graphviz text)."""
  extension = os.path.splitext(path)[1].lower().lstrip('.')
  if extension == 'dot':
    with open(path, 'w', encoding='utf-8') as f:
      f.write(dag_dot(dag))
  elif extension in ('png', 'svg', 'pdf'):
    draw_dag(dag, path, extension)
  else:
    raise ValueError(f'{path}: write the DAG as .png, .svg, .pdf or .dot')
