"""What one export may hold before a record or the file is refused. Every limit is configurable
(`ExportOptions.limits`); the defaults fit real exports with a wide margin."""

from __future__ import annotations

from pydantic import BaseModel

from reer_pipeline.platforms import PLATFORMS

# The longest text each platform itself lets a post have (`Platform.text_max`).
PLATFORM_TEXT_MAX = {p.name: p.text_max for p in PLATFORMS.values()}


class IngestLimits(BaseModel):
    max_file_bytes: int = 4 << 30  # one export file, or one member of an archive, unpacked
    max_record_bytes: int = 1 << 20  # one JSON record or CSV row (a real tweet record: ~5 KB)
    max_depth: int = 64  # nesting of one JSON record (a real tweet record: 6)
    max_text_chars: dict[str, int] = PLATFORM_TEXT_MAX
    max_zip_ratio: float = 100.0  # unpacked / packed size of an archive member (text: ~5-10)
    max_zip_members: int = 1_000_000

    def text_max(self, platform: str) -> int:
        return self.max_text_chars.get(platform, max(PLATFORM_TEXT_MAX.values()))
