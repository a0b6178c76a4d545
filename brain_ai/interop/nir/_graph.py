"""Reduce a NIR graph to brain_ai's shape: a chain of nodes from the input to the output.

Nested subgraphs are inlined, recurrent weights (``neuron -> Linear/Affine -> neuron`` cycles)
are attached to their neuron, and the rest must be a single path ``Input -> ... -> Output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import nir

from brain_ai.interop.nir._mapping import NIRImportError

NEURON_TYPES = (nir.LIF, nir.CubaLIF, nir.LI)


@dataclass
class Chain:
    """A graph as a path: ``steps`` in order (Input/Output excluded), recurrent weights by neuron name."""

    input: nir.Input
    steps: List[Tuple[str, nir.NIRNode]]
    recurrent: Dict[str, nir.NIRNode] = field(default_factory=dict)


def _inline(graph: nir.NIRGraph, prefix: str = "") -> Tuple[Dict[str, nir.NIRNode], List[Tuple[str, str]], Set[str]]:
    """Flat nodes and edges (subgraph nodes renamed ``sub.node``) and the names of inner Input/Output nodes."""
    nodes: Dict[str, nir.NIRNode] = {}
    edges: List[Tuple[str, str]] = []
    passthrough: Set[str] = set()
    ports: Dict[str, Tuple[List[str], List[str]]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_pass = _inline(node, full + ".")
            nodes.update(sub_nodes)
            edges += sub_edges
            passthrough |= sub_pass
            ins = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            passthrough |= set(ins) | set(outs)
            ports[full] = (ins, outs)
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        src, dst = prefix + src, prefix + dst
        srcs = ports[src][1] if src in ports else [src]
        dsts = ports[dst][0] if dst in ports else [dst]
        edges += [(s, d) for s in srcs for d in dsts]
    return nodes, edges, passthrough


def _contract(nodes: Dict[str, nir.NIRNode], edges: List[Tuple[str, str]], names: Set[str]) -> List[Tuple[str, str]]:
    """Remove pass-through nodes, connecting each of their sources to each of their targets."""
    for p in names:
        srcs = [s for s, d in edges if d == p and s != p]
        dsts = [d for s, d in edges if s == p and d != p]
        edges = [e for e in edges if p not in e] + [(s, d) for s in srcs for d in dsts]
        nodes.pop(p, None)
    return edges


def _edge_list(edges: List[Tuple[str, str]], node: str, outgoing: bool) -> List[str]:
    return [d if outgoing else s for s, d in edges if (s if outgoing else d) == node]


def to_chain(graph: nir.NIRGraph) -> Chain:
    """The graph as a :class:`Chain`; raises :class:`NIRImportError` naming the offending node."""
    nodes, edges, passthrough = _inline(graph)
    edges = _contract(nodes, list(dict.fromkeys(edges)), passthrough)
    unknown = [e for e in edges if e[0] not in nodes or e[1] not in nodes]
    if unknown:
        raise NIRImportError(f"edge {unknown[0]} names a node that is not in the graph (nodes: {sorted(nodes)})")
    recurrent: Dict[str, nir.NIRNode] = {}
    for name, node in list(nodes.items()):
        if not isinstance(node, (nir.Linear, nir.Affine)):
            continue
        srcs, dsts = _edge_list(edges, name, False), _edge_list(edges, name, True)
        if len(srcs) == 1 and srcs == dsts and isinstance(nodes[srcs[0]], (nir.LIF, nir.CubaLIF)):
            recurrent[srcs[0]] = node
            edges = [e for e in edges if name not in e]
            del nodes[name]
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRImportError(
            f"brain_ai loads graphs with one Input and one Output node; this one has inputs {inputs} and outputs {outputs}"
        )
    steps: List[Tuple[str, nir.NIRNode]] = []
    current: Optional[str] = inputs[0]
    visited = {current}
    while True:
        dsts = _edge_list(edges, current, True)
        if len(dsts) != 1:
            raise NIRImportError(
                f"node {current!r} feeds {dsts or 'nothing'}; brain_ai loads chains (each node feeds exactly one "
                "next node, plus recurrent weights neuron -> Linear -> neuron)"
            )
        current = dsts[0]
        srcs = _edge_list(edges, current, False)
        if len(srcs) != 1 or current in visited:
            raise NIRImportError(
                f"node {current!r} receives input from {srcs}; brain_ai loads chains (one input per node)"
            )
        visited.add(current)
        if current == outputs[0]:
            break
        steps.append((current, nodes[current]))
    left = sorted(set(nodes) - visited)
    if left:
        raise NIRImportError(f"nodes {left} are not on the path from {inputs[0]!r} to {outputs[0]!r}")
    return Chain(input=nodes[inputs[0]], steps=steps, recurrent=recurrent)
