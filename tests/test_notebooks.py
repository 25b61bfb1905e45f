"""The example notebooks (examples/notebooks/*.ipynb) run top to bottom in the dprog
kernel with nbclient, as CI runs them: any error output fails, and each shows plots."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT

pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from dprog.tools.kernelspec import kernel_spec  # noqa: E402

NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))


@pytest.fixture
def dprog_kernel(tmp_path, monkeypatch):
    """The dprog kernel spec in a temporary Jupyter path (nothing installed for real)."""
    folder = tmp_path / "kernels" / "dprog"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec()))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"fit.ipynb", "projectile.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_errors(path, dprog_kernel):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "dprog"
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="dprog",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on a cell's error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.text for o in outputs if o.output_type == "stream"
                     and o.name == "stderr")
    assert "error" not in stderr and "Traceback" not in stderr
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name} shows {len(images)} figures"
    results = [o.data["text/plain"] for o in outputs if o.output_type == "execute_result"]
    if path.name == "projectile.ipynb":  # Newton's method hit the 30 m target
        assert any(r.startswith("24.32") for r in results), results
    if path.name == "fit.ipynb":  # the gradient check passed at the fitted parameters
        assert results[-1] == "true"
