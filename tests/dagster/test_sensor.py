"""The new-export sensor, evaluated with build_sensor_context against a real instance."""

from datetime import UTC, datetime

import dagster as dg

from reer_pipeline.resources.storage import Storage
from reer_pipeline.sensors.new_exports import new_export_sensor, scan
from tests.conftest import SAMPLE, copy_export


def tick(instance, cursor):
    """Evaluate one tick and apply its partition requests, as the daemon would."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"storage": Storage()}
    )
    result = new_export_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_new_file_is_requested_once_its_size_is_stable(data_root):
    path = copy_export(SAMPLE, data_root)
    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        assert first.run_requests == []  # seen once: it could still be growing
        second = tick(instance, first.cursor)
        keys = [r.partition_key for r in second.run_requests]
        assert len(keys) == 1 and keys[0].startswith(path.name + "@")
        assert instance.get_dynamic_partitions("export_files") == keys
        assert tick(instance, second.cursor).run_requests == []


def test_growing_file_waits(data_root):
    path = data_root / "exports" / "growing.csv"
    with dg.instance_for_test() as instance:
        cursor = None
        for size in (10, 20, 30):
            path.write_bytes(SAMPLE.read_bytes()[:size])
            result = tick(instance, cursor)
            assert result.run_requests == []
            cursor = result.cursor
        assert len(tick(instance, cursor).run_requests) == 1


def test_changed_file_becomes_a_new_partition(data_root):
    path = copy_export(SAMPLE, data_root)
    with dg.instance_for_test() as instance:
        cursor = tick(instance, tick(instance, None).cursor).cursor
        with path.open("ab") as f:
            f.write(
                b"10/17/17 10:00,One more post,https://twitter.com/BarackObama/status/1,1,1,1,BarackObama\n"
            )
        cursor = tick(instance, cursor).cursor
        result = tick(instance, cursor)
        assert len(result.run_requests) == 1
        assert len(instance.get_dynamic_partitions("export_files")) == 2


def test_ten_thousand_files_in_one_tick(data_root):
    exports = data_root / "exports"
    for i in range(10_000):
        (exports / f"export_{i:05d}.csv").write_text(f"created_at,text\n2024-01-01,post {i}\n")
    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        result = tick(instance, first.cursor)
        assert len(result.run_requests) == 10_000
        assert len({r.run_key for r in result.run_requests}) == 10_000
        assert len(instance.get_dynamic_partitions("export_files")) == 10_000


def test_rebuilt_posts_refresh_only_the_accounts_they_changed(data_root):
    from reer_pipeline.definitions import defs
    from tests.dagster.test_ingest_assets import ingest

    with dg.instance_for_test() as instance:
        assert ingest(instance, copy_export(SAMPLE, data_root))[0].success
        sensor = defs.resolve_sensor_def("changed_accounts_sensor")
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        requests = list(sensor(context))
        assert [r.partition_key for r in requests] == ["x:BarackObama"]
        cursor = context.cursor
        # the same posts rebuilt again: nothing changed, nothing to refresh
        posts_job = defs.resolve_job_def("ingest")
        key = instance.get_dynamic_partitions("export_files")[0]
        assert posts_job.execute_in_process(instance=instance, partition_key=key).success
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        assert list(sensor(context)) == []

        # nightly: the account has top posts without traces, so it is due
        schedule = defs.resolve_schedule_def("nightly_remine")
        night = datetime(2026, 11, 30, 3, tzinfo=UTC)
        with dg.build_schedule_context(
            instance=instance, resources=defs.resources, scheduled_execution_time=night
        ) as context:
            requests = schedule(context)
        assert [r.partition_key for r in requests] == ["x:BarackObama"]


def test_a_symlink_out_of_the_folder_is_logged_once_and_never_ingested(data_root, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_bytes(SAMPLE.read_bytes())
    (data_root / "exports" / "link.csv").symlink_to(outside)
    logged = []
    ready, seen, pending = scan(data_root / "exports", {}, {}, logged.append)
    assert ready == [] and pending == {}
    ready, seen, pending = scan(data_root / "exports", seen, pending, logged.append)
    assert ready == [] and len(logged) == 1 and "outside" in logged[0]
