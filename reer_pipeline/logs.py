"""JSON log lines: one event per line, carrying the Dagster run id.

Enable it in an instance's dagster.yaml (see deploy/json-logs.yaml):

    python_logs:
      dagster_handler_config:
        handlers:
          json: {class: logging.StreamHandler, formatter: json, stream: ext://sys.stdout}
        formatters:
          json: {(): reer_pipeline.logs.JsonFormatter}
"""

import json
import logging
from datetime import UTC, datetime

_META = ("run_id", "job_name", "step_key", "dagster_event_type")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        event = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": meta.get("orig_message") or record.getMessage(),
        }
        event.update({k: meta[k] for k in _META if meta.get(k) is not None})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)
