"""Read the history rows of an offline W&B run file (``run-*.wandb``) without network or wandb's
internal reader (which moved out of the Python package in wandb 0.19+).

The file is wandb's LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB
blocks of records, each ``crc32 (4) | length (2, little endian) | type (1) | payload``, with
type 1 = full, 2 = first, 3 = middle, 4 = last chunk of a protobuf ``Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

_HEADER = 7
_BLOCK = 32 * 1024
_RECORD_HEADER = 7


def _payloads(data: bytes):
    pos, pending = _HEADER, b""
    while pos + _RECORD_HEADER <= len(data):
        block_left = _BLOCK - (pos % _BLOCK)
        if block_left < _RECORD_HEADER:  # block trailer padding
            pos += block_left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _RECORD_HEADER])
        chunk = data[pos + _RECORD_HEADER : pos + _RECORD_HEADER + length]
        pos += _RECORD_HEADER + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def read_history(run_file: Path) -> list[dict]:
    rows = []
    for payload in _payloads(Path(run_file).read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows
