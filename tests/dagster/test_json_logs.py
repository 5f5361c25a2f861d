"""JSON logs, configured the way deploy/json-logs.yaml says, from a real run in a subprocess."""

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT, SAMPLE, copy_export


def test_one_json_line_per_event_with_the_run_id(data_root, tmp_path, sample_facts):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "json-logs.yaml").read_text())
    copy_export(SAMPLE, data_root)
    script = textwrap.dedent(
        """
        import dagster as dg
        from reer_pipeline.assets.ingest import partition_key
        from reer_pipeline.assets.partitions import export_partitions
        from reer_pipeline.definitions import defs
        from reer_pipeline.layout import DataLayout
        instance = dg.DagsterInstance.get()
        key = partition_key(next(DataLayout.from_env().exports.iterdir()))
        instance.add_dynamic_partitions(export_partitions.name, [key])
        job = defs.resolve_job_def("ingest")
        result = job.execute_in_process(instance=instance, partition_key=key)
        print("RUN_ID", result.run_id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"DAGSTER_HOME": str(home), "REER_DATA_DIR": str(data_root), "PATH": ""},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    run_id = lines[-1].split()[1]
    events = [json.loads(line) for line in lines[:-1] if line.startswith("{")]
    assert len(events) > 10
    assert all(e["run_id"] == run_id for e in events)
    assert any(f"posts: {sample_facts.posts} rows" in e["message"] for e in events)
