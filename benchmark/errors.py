"""Every error the suite raises on purpose, in one place at the bottom of the layers.

Each message names the thing that is wrong and the fix. How each is handled:
- ConfigError: a bad name or value from the user; the command prints one line and exits 2.
- DataError: bad or missing input data; the message names the file (and line). The cell fails.
- DataUnavailable: the data cannot be had here (offline, no local copy); the cell is
  recorded as `skipped`, not failed, and runs again on the next `run`.
- NonFiniteLoss: training diverged; the cell is recorded as `diverged` and the matrix goes on.
- Terminated: SIGTERM or SIGHUP (a scheduler, a container, a closed terminal), raised where the
  program is as Ctrl-C's KeyboardInterrupt is, so every path that stops cleanly for one stops
  for the other (cli.main installs the handlers).
- MatrixInterrupted: a signal stopped a matrix; the cells it finished are in the store, the one
  in progress is not recorded (it runs again on resume); the command says how many were kept
  and exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), never 0.
"""

import difflib


class ConfigError(ValueError):
    """A bad name or value from the user: reported as one line, exit status 2."""


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and line) and the fix."""


class DataUnavailable(RuntimeError):
    """The data cannot be had here (no network, no local copy): the cell is skipped, not failed."""


class NonFiniteLoss(FloatingPointError):
    """Training diverged; the cell is recorded as `diverged` and the matrix goes on."""


def closest(name, known) -> str:
    """The end of an unknown-name message: "; did you mean 'model'?" for the known name nearest
    a misspelled one, "" when none is near."""
    match = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


SIGINT = 2  # signal.SIGINT; the number, so this bottom layer imports nothing


class Terminated(KeyboardInterrupt):
    """A terminating signal other than SIGINT (its number in `signum`). A KeyboardInterrupt, so that
    Lightning's entry points, the launchers and the matrix treat it as they treat Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def signal_number(interrupt: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: its own for Terminated and MatrixInterrupted, else SIGINT."""
    return getattr(interrupt, "signum", SIGINT)


class MatrixInterrupted(KeyboardInterrupt):
    """A signal stopped a matrix: `kept` of its cells have records in `folder`, the rest run on resume.
    A KeyboardInterrupt still, so that code which lets Ctrl-C through lets this through too."""

    def __init__(self, folder, kept: int, signum: int = SIGINT):
        super().__init__(f"interrupted: {kept} cell{'' if kept == 1 else 's'} kept in {folder}; run the same command "
                         f"to resume")
        self.folder, self.kept, self.signum = folder, kept, signum
