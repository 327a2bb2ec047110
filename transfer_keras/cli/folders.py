"""The folders a command reads and writes: `DATA_DIR` checked, `--out` checked and staged."""

import contextlib
import errno
import os
from pathlib import Path

from transfer_keras._files import staged_folder, unexpected_files
from transfer_keras.cli.output import note
from transfer_keras.errors import UsageError


def existing_folder(path, what):
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"{what} {str(path)!r} does not exist (current folder: "
                         f"{os.getcwd()}). Check the path.")
    if not folder.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a file; give the folder that holds one "
                         f"sub-folder per class.")
    return folder


def check_out(out, *, data_dir=None, overwrite=False, model_path=None):
    """The `--out` folder, checked but not created: not a file, not in DATA_DIR, not
    holding an earlier run (unless `overwrite`), and writable.

    The run is built in a hidden folder beside `--out` and renamed into place at
    the end (`staged_folder`), so the folder that holds `--out` must be writable.
    Raises UsageError (exit 2) for a path the user should change, `OSError`
    (exit 1) when this machine does not let us write there.
    """
    if not str(out).strip():
        raise UsageError("--out is empty; give a folder for the outputs, e.g. --out run1.")
    folder = Path(out).expanduser().resolve()
    _refuse_the_current_folder(out, folder)
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        if folder == data or data in folder.parents:
            where = "is" if folder == data else "is inside"
            raise UsageError(f"--out {str(out)!r} {where} DATA_DIR {str(data)!r}: the "
                             f"outputs would be mixed with the images (and read as a class "
                             f"next time). Give a folder outside it, e.g. --out "
                             f"{data.name}_run.")
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is inside the file {str(existing)!r}"
        raise UsageError(f"--out {str(out)!r} {where}; give a folder for the outputs.")
    if existing == folder:
        _check_earlier_run(out, folder, overwrite, model_path)
        existing = next(path for path in folder.parents if path.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, f"Permission denied: cannot write the --out folder "
                                    f"{str(out)!r} in", str(existing))
    return folder


def _refuse_the_current_folder(out, folder):
    """A finished run replaces `--out` as a whole (renamed into place): a shell
    whose current folder is `--out`, or inside it, would be left in a deleted folder."""
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder is already gone
        return
    if folder.exists() and (folder == here or folder in here.parents):
        what = "the current folder" if folder == here else "a folder around the current one"
        raise UsageError(f"--out {str(out)!r} is {what} ({folder}): a finished run replaces "
                         f"--out as a whole, which would leave this shell in a deleted "
                         f"folder. Run from outside it: cd {folder.parent} and pass --out "
                         f"{folder.name}.")


def _check_earlier_run(out, folder, overwrite, model_path):
    """Refuses an `--out` that holds files, unless `--overwrite` may replace them all."""
    entries = sorted(entry.name for entry in folder.iterdir())
    if not entries:
        return
    shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
    if not overwrite:
        raise UsageError(f"--out {str(out)!r} already holds files ({shown}), e.g. an "
                         f"earlier run: nothing was changed. Give a new folder, or pass "
                         f"--overwrite to replace its content once this run succeeds.")
    unexpected = unexpected_files(folder)
    if unexpected:
        raise UsageError(f"--overwrite replaces the whole folder {str(out)!r}, but it holds "
                         f"entries transfer-keras does not write ({', '.join(unexpected)}): "
                         f"nothing was changed. Move them away or give another --out.")
    if model_path is not None and folder in Path(model_path).expanduser().resolve().parents:
        raise UsageError(f"--out {str(out)!r} holds the model being evaluated, and "
                         f"--overwrite would replace it: nothing was changed. Write the "
                         f"evaluation to its own folder, e.g. --out "
                         f"{Path(out) / 'evaluation'}.")


@contextlib.contextmanager
def writing_to(out, *, interrupted_note=None):
    """Yields a hidden staging folder that becomes `out` when the block succeeds.

    On an error or interrupt `out` is left exactly as it was, and the command
    says so; after an interrupt, `interrupted_note()` adds what was lost (e.g.
    a finished stage 1).
    """
    try:
        with staged_folder(out) as staging:
            yield staging
    except (KeyboardInterrupt, OSError) as error:
        lost = interrupted_note() if interrupted_note and isinstance(
            error, KeyboardInterrupt) else ""
        note(f"nothing was written: {out} is as it was before this run{lost}.")
        raise
