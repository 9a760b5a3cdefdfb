"""DARTS-PT's projection plan on the DARTS cell spaces (protocol §8; Wang et al., ICLR 2021).

Read from ruocwang/darts-pt ``sota/cnn/projection.py`` (``pt_project``, ``project_op``,
``project_edge``) and ``sota/cnn/model_search_darts_proj.py`` (``DartsNetworkProj``), as the papers
ran them (``two_stage/DARTS-space/projection.py``, ``--edge_decision random --proj_crit acc
--proj_intv 5``):

* 14 op events, each projecting one edge of the normal cell, then one of the reduction cell
  (``project_op`` twice per event; the edge of each cell drawn at random among its undecided ones);
* then 3 topology events, each keeping 2 in-edges of one node of the normal cell, then of the
  reduction cell (``project_edge``; ``nid2eids = {0: [2, 3, 4], 1: [5, 6, 7, 8], 2: [9, .., 13]}``:
  the 3/4/5 in-edges of nodes 3, 4, 5 - node 2 has only its 2; the node drawn at random among the
  undecided ones);
* ``num_projs = 14 + 3 - 1`` and ``tune_epochs = proj_intv * num_projs + 1``: events at the start of
  epochs ``0, proj_intv, .., 16 * proj_intv`` (the last one is epoch ``tune_epochs - 1``), one epoch
  of tuning after it. The profiles' ``perturb_epochs`` are DARTS-PT's NB201 budget
  (``proj_intv * (6 - 1)``, §5.5): ``paper``'s 25 is ``proj_intv`` 5, so 81 epochs here (§8).

The selected genotype is DARTS' rule on the projected weights (``DartsNetworkProj.genotype``, i.e.
:meth:`~.space.DartsCellSpace.discretize`): after topology projection exactly the 2 kept in-edges of
every node carry a weight, a one-hot each.

Harness rule (not in DARTS-PT): ``none`` (a candidate in S3 only) is never fixed as an edge's op
(:meth:`~.space.DartsCellSpace.discrete_op`), the next-ranked op is, so the result is always a
valid cell; DARTS-PT could fix ``none``, and its ``genotype`` then read such an edge as weightless.
"""
from __future__ import annotations

from ..base import PROFILE_PROJECTION_INTERVALS, ProjectionPlan
from .space import CELL_TYPES, EDGES, NODE_ROWS

#: in-edges each intermediate node keeps
KEEP = 2


def darts_projection_plan() -> ProjectionPlan:
    """The plan above: 14 events of (normal, reduce) op steps, then 3 of (normal, reduce) node steps."""
    nodes = {ct: {node: rows for node, rows in NODE_ROWS.items() if len(rows) > KEEP} for ct in CELL_TYPES}
    op_events = tuple(tuple(("op", ct) for ct in CELL_TYPES) for _ in EDGES)
    edge_events = tuple(tuple(("edge", ct) for ct in CELL_TYPES) for _ in nodes[CELL_TYPES[0]])
    return ProjectionPlan(events=op_events + edge_events, nodes=nodes, keep=KEEP,
                          profile_intervals=PROFILE_PROJECTION_INTERVALS, final_epochs=1)
