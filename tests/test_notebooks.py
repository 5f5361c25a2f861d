"""The notebooks run on the sample: a real warehouse and MLflow store under a temporary data root,
each notebook executed in a real kernel (nbclient, as nbmake does). Committed without outputs."""

import json

import dagster as dg
import pytest

from tests.conftest import ROOT, SAMPLE, copy_export
from tests.dagster.test_ingest_assets import ingest
from tests.test_tracking import engagement

pytestmark = pytest.mark.usefixtures("tracking_on")  # off elsewhere (tests/conftest.py)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    assert [n.name for n in NOTEBOOKS] == ["account_report.ipynb", "system_comparison.ipynb"]
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


def text_of(notebook) -> str:
    """Everything the executed cells printed or displayed, as text."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(data.get("text/markdown", "") + data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow  # starts a kernel per notebook
def test_both_notebooks_run_on_the_sample_and_read_its_store(data_root, sample_facts):
    import nbclient
    import nbformat

    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        assert engagement(instance).success  # its MLflow run lands in data_root's store
    outputs, executed = {}, {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}
        )
        client.execute()  # raises CellExecutionError, with the cell, when a cell fails
        outputs[path.stem], executed[path.stem] = text_of(notebook), notebook
    report = outputs["account_report"]
    assert f"account {sample_facts.account}" in report and str(data_root) in report
    assert f"engagement_model {sample_facts.account}" in report  # its run, from the store
    drawn = [c for c in executed["account_report"].cells if "image/png" in json.dumps(c)]
    assert len(drawn) == 2  # engagement over time; predicted against actual
    comparison = outputs["system_comparison"]
    assert "1 runs in sqlite:///" in comparison and f"engagement_model {sample_facts.account}" in (
        comparison
    )
