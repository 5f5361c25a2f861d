"""Atomic writes of files and folders on a real file system."""

import pytest

from reer_pipeline.files import atomic_path, write_atomic, write_json


def test_a_file_is_replaced_whole_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "a.json"
    write_atomic(path, "old")
    write_json(path, {"new": 1})
    assert path.read_text() == '{\n  "new": 1\n}'
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_folder_is_swapped_and_the_old_one_removed(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "stale.bin").write_text("old")
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "weights.bin").write_text("new")
        assert not (folder / "weights.bin").exists()  # readers still see the old folder
    assert [p.name for p in folder.iterdir()] == ["weights.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_an_error_keeps_the_old_version(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_writing_nothing_keeps_the_path_as_it_is(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("kept")
    with atomic_path(path):
        pass
    assert path.read_text() == "kept"
