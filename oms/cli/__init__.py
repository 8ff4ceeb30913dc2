"""``oms``: the command line, one module per group of sub-commands.

* :mod:`oms.cli.root`: the ``oms`` app and its own commands (``up``, ``run``,
  ``migrate``, ``openapi``, ``token``, ``diagrams``, ``audit``), which add the groups:
* :mod:`oms.cli.topology` (``oms topology …``), :mod:`oms.cli.saga` (``oms saga …``),
  :mod:`oms.cli.bench` (``oms bench …``), :mod:`oms.cli.scenario` (``oms scenario …``).

Each module holds the options and the printing; the work is done in the package
it drives (``oms.bench``, ``oms.scenario``, ``oms.audit`` …).  A new group is a
module here with its ``typer.Typer`` and one ``add_typer`` line in ``root``.
"""

from __future__ import annotations

from oms.cli.root import app

__all__ = ["app"]
