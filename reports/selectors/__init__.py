"""Reads of compliance data, by what they serve: the dashboard's figures
(``dashboard``), the runs table and its CSV (``runs``), policies in words
(``policies``), the compliance panel of a run page (``run_panel``), and the
work of the assessment jobs and their progress (``assessing``); ``common``
holds the filters they share.

The dashboard, the runs table, the API and the commands all take their
figures from here (and documents will too), so a page and its export never
disagree. These
modules never import ``reports.services`` or ``reports.jobs``: writes use
reads, not the other way round (see docs/architecture.md).
"""
