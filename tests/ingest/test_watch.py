"""What the sensor must skip, and say, about entries of the exports folder."""

import os

from reer_pipeline.ingest.watch import export_digest, skip_reason


def test_skip_reasons(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("created_at,text\n")
    (exports / "posts.csv").write_text("created_at,text\n")
    (exports / "posts.csv.columns.yaml").write_text("text: body\n")
    (exports / ".hidden.csv").write_text("")
    (exports / "download.csv.part").write_text("")
    (exports / "link_out.csv").symlink_to(outside)
    (exports / "link_in.csv").symlink_to(exports / "posts.csv")
    (exports / "archive").mkdir()
    reasons = {e.name: skip_reason(e, exports) for e in os.scandir(exports)}
    assert reasons["posts.csv"] is None
    assert reasons["posts.csv.columns.yaml"] == "" and reasons[".hidden.csv"] == ""
    assert reasons["download.csv.part"] == ""
    assert reasons["link_out.csv"].startswith("link_out.csv: skipped, a symbolic link to ")
    assert str(outside) in reasons["link_out.csv"] and "outside" in reasons["link_out.csv"]
    assert reasons["link_in.csv"].startswith("link_in.csv: skipped, a symbolic link")
    assert reasons["archive"].startswith("archive: skipped, a folder")


def test_mapping_file_changes_the_digest(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("created_at,text\n")
    plain = export_digest(path)
    (tmp_path / "posts.csv.columns.yaml").write_text("text: body\n")
    mapped = export_digest(path)
    (tmp_path / "posts.csv.columns.yaml").write_text("text: message\n")
    assert len({plain, mapped, export_digest(path)}) == 3
