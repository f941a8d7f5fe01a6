"""The notebook step of the workflow: a SageMaker notebook instance (``instance.py``) and the
same notebook in a local Jupyter (``jupyter.py``).

``exploration.ipynb`` is package data (pyproject's ``package-data``): the ``exploration_report``
asset, the notebook instance and the local Jupyter find it in an installed package, not only in
a checkout."""

from pathlib import Path

EXPLORATION = Path(__file__).resolve().parent / "exploration.ipynb"
