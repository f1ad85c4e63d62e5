"""The worker pipe protocol, both ends: one message is a 4-byte big-endian length, then that many bytes of
a JSON object. Spoken by the local stack (`local/runtime/workers.py` and the `local/runtime/worker_runtime.py` processes it
starts) and by the bench (`bench/workers.py` and the `bench/worker.py` processes it starts); each pair has
its own messages (see those modules), this module only frames them.

Standard library only, and importable without `local` being importable. The worker processes run
isolated (`python -I`): neither their own folder nor the repository is on `sys.path` (only the function's
CodeUri, layers and site-packages are), so they cannot `import local.runtime.worker_protocol`. They load this file
by path instead, with `importlib.util.spec_from_file_location`:
- `local/runtime/worker_runtime.py` is run as a script and finds this file next to itself (`__file__`);
- `bench/worker.py` is run as `python -c <its text>` (it has no `__file__`), so its parent passes this
  file's path in the worker's configuration (`PATH` below).
The parents import it normally (`from local.runtime.worker_protocol import ...`).
"""

import json
import os
import struct

PATH = os.path.abspath(__file__)
HEADER = struct.Struct(">I")
_CHUNK = 1 << 20


def encode(message, default=None):
    """One message as the bytes that go down the pipe."""
    body = json.dumps(message, separators=(",", ":"), default=default).encode()
    return HEADER.pack(len(body)) + body


def write_message(fd, message, default=None):
    """Write one message (all of it). `default`: as json.dumps's, for values JSON does not know."""
    data = encode(message, default)
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd, wait=None):
    """The next message, or None when the other end closed its side first (end of file).

    `wait`, if given, is called before each read: a parent uses it to wait for the pipe with a deadline
    (and raise when it passes); without it the read blocks."""
    header = _read_exactly(fd, HEADER.size, wait)
    if header is None:
        return None
    body = _read_exactly(fd, HEADER.unpack(header)[0], wait)
    return None if body is None else json.loads(body)


def _read_exactly(fd, size, wait):
    chunks, remaining = [], size
    while remaining:
        if wait is not None:
            wait()
        chunk = os.read(fd, min(remaining, _CHUNK))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
