"""Execute a notebook with injected parameters and render it to HTML (nbclient + nbconvert).

Parameters go into a cell inserted right after the cell tagged ``parameters`` (the papermill
convention), so the notebook itself keeps working defaults for a person running it by hand.
"""

from __future__ import annotations

from pathlib import Path


def execute_notebook(
    path: str | Path, parameters: dict | None = None, timeout: int = 300
) -> tuple[object, str]:
    """The executed notebook and its HTML; a failing cell raises ``nbclient`` CellExecutionError
    naming the cell and the error."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(path), as_version=4)
    if parameters:
        inject_parameters(notebook, parameters)
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": "."}}
    ).execute()
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    return notebook, html


def inject_parameters(notebook, parameters: dict) -> None:
    """Add a cell assigning ``parameters`` right after the cell tagged ``parameters``."""
    import nbformat

    source = "# Injected parameters\n" + "\n".join(
        f"{name} = {value!r}" for name, value in parameters.items()
    )
    tagged = [
        i
        for i, cell in enumerate(notebook.cells)
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    at = tagged[0] + 1 if tagged else 0
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(at, cell)
