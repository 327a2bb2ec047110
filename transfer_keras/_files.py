"""Writing files and folders so that a crash or an interrupt never leaves a half-written state.

- `atomic_path`: write one file under a temporary name, flush it to disk, rename it.
- `staged_folder`: build a whole output folder under a temporary name beside it,
  then swap it into place; until then the old folder is untouched.
- `deferred_interrupts`: Ctrl-C / SIGTERM wait until a short critical step is done.
- `sigterm_as_interrupt`: SIGTERM raises `Terminated` (a `KeyboardInterrupt`), so
  `kill PID` cleans up exactly like Ctrl-C instead of killing the process silently.
"""

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
from pathlib import Path

# The mode `open()` gives a new file: 0o666 minus the umask. The kernel applies the
# umask itself when a file is created with `os.open(..., mode)`; no umask flip needed.
_FILE_MODE = 0o666
_FOLDER_MODE = 0o777

# Regular files an output folder of transfer-keras holds (model, reports, figures,
# models of older versions' class_names.json): what `--overwrite` may delete.
OUTPUT_SUFFIXES = (".keras", ".json", ".md", ".png")


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (e.g. `kill PID`); handled like Ctrl-C, exit code 143."""


# --------------------------------------------------------------------------- one file


def _create_unique(make_name, create, beside):
    """Calls `create(make_name(token))` with fresh random tokens until a name is free."""
    for _ in range(100):
        name = make_name(secrets.token_hex(4))
        try:
            create(name)
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"Could not create a temporary file or folder beside {beside}.")


def _create_empty_file(name):
    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _FILE_MODE))


def _new_temporary_file(path, suffix):
    """Creates an empty file `.<stem>-<random><suffix>` beside `path`; returns its name."""
    return str(_create_unique(lambda token: path.parent / f".{path.stem}-{token}{suffix}",
                              _create_empty_file, path))


def fsync_path(path):
    """Asks the operating system to write a file's (or a folder's) data to the disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else os.O_RDONLY
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_folder(folder):
    """`fsync_path` for a folder, where the platform allows it (not on Windows)."""
    with contextlib.suppress(OSError):
        fsync_path(folder)


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yields a temporary file name next to `path`; moves it to `path` on success.

    Write to the yielded name. On success the file is flushed to the disk
    (`fsync`), renamed to `path`, and the folder's entry is flushed too, so a
    crash or power loss leaves either the old file or the complete new one.
    If the block raises (or is interrupted), the temporary file is removed and
    `path` is left as it was. The new file gets the usual mode (0o666 minus
    the umask), like any file `open()` creates.

    Args:
        path: the final file.
        suffix: ending of the temporary name (some writers check it, e.g.
            `.weights.h5`). Defaults to `None` (the final file's suffix).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _new_temporary_file(path, path.suffix if suffix is None else suffix)
    try:
        yield temporary
        fsync_path(temporary)
        with deferred_interrupts():
            os.replace(temporary, path)
        _fsync_folder(path.parent)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomically(path, text):
    """Writes UTF-8 text to `path` atomically; returns the `Path`."""
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
    return Path(path)


# --------------------------------------------------------------------------- a whole folder


def _new_temporary_folder(folder):
    """Creates an empty folder `.<name>.partial-<random>` beside `folder`; returns it.

    Made with the usual mode (0o777 minus the umask), unlike `tempfile.mkdtemp`'s
    private 0o700, so the final folder has the mode any new folder would have.
    """
    return _create_unique(lambda token: folder.parent / f".{folder.name}.partial-{token}",
                          lambda name: os.mkdir(name, _FOLDER_MODE), folder)


def unexpected_files(folder):
    """The entries of `folder` that are not output files of transfer-keras (sorted names)."""
    return sorted(entry.name for entry in Path(folder).iterdir()
                  if not (entry.is_file() and not entry.is_symlink()
                          and entry.suffix in OUTPUT_SUFFIXES))


def _swap_into_place(staging, folder):
    """Renames `staging` to `folder`; an existing `folder` is moved aside, then deleted."""
    old = None
    with deferred_interrupts():
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            folder.rename(old / folder.name)
        staging.rename(folder)
        _fsync_folder(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder):
    """Yields a new, empty folder to write into; on success it becomes `folder`.

    The folder is built beside `folder` under a hidden temporary name
    (`.NAME.partial-XXXX`) and renamed into place only when the block ends
    without error, replacing what `folder` held before (if anything). If the
    block raises or is interrupted (Ctrl-C, SIGTERM), the temporary folder and
    any parent folders this call created are removed, and `folder` is left
    exactly as it was: nothing new, nothing mixed.

    Only a hard kill (SIGKILL, power loss) can leave a `.NAME.partial-XXXX`
    folder behind (delete it), never a damaged `folder`.

    Args:
        folder: the final folder (a `Path`); its parent need not exist.
    """
    folder = Path(folder)
    created = [path for path in folder.parents if not path.exists()]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = None
    try:
        staging = _new_temporary_folder(folder)
        yield staging
        _swap_into_place(staging, folder)
    except BaseException:
        with deferred_interrupts():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            for path in created:  # the deepest first
                try:
                    path.rmdir()
                except OSError:
                    break
        raise


# --------------------------------------------------------------------------- interrupts


@contextlib.contextmanager
def deferred_interrupts():
    """Holds Ctrl-C (SIGINT) and SIGTERM back until the block ends, then delivers them.

    For short steps that must not stop half-way (renaming a folder into place,
    removing a temporary one). Does nothing outside the main thread, where
    Python does not let signal handlers change.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in received[:1]:  # delivered now, to the handlers in force again
            signal.raise_signal(number)


def _raise_terminated(number, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While the block runs, SIGTERM raises `Terminated` (a `KeyboardInterrupt`).

    Python's default is to die on SIGTERM without running any cleanup; this
    lets `kill PID` end a command as Ctrl-C does: temporary files removed, a
    message, an exit code. Does nothing outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
