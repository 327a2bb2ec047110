"""Writing files atomically: a reader (or a crash) never sees a half-written file."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yields a temporary file name next to `path`; renames it to `path` on success.

    Write to the yielded name. If the block raises, the temporary file is
    removed and `path` is left as it was.

    Args:
        path: the final file.
        suffix: ending of the temporary name (some writers check it, e.g.
            `.weights.h5`). Defaults to `None` (the final file's suffix).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-",
                                         suffix=path.suffix if suffix is None else suffix)
    os.close(handle)
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; use the usual mode
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomically(path, text):
    """Writes UTF-8 text to `path` atomically; returns the `Path`."""
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
    return Path(path)
