"""``python -m oms.cli …``, as the ``oms`` script."""

from oms.cli import app

app()
