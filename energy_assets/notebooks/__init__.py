"""The notebook step of the workflow: a SageMaker notebook instance (``instance.py``) and the
same notebook in a local Jupyter (``jupyter.py``)."""
