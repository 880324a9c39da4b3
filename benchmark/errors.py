"""Every error the suite raises on purpose, in one place at the bottom of the layers.

Each message names the thing that is wrong and the fix. How each is handled:
- ConfigError: a bad name or value from the user; the command prints one line and exits 2.
- DataError: bad or missing input data; the message names the file (and line). The cell fails.
- DataUnavailable: the data cannot be had here (offline, no local copy); the cell is
  recorded as `skipped`, not failed, and runs again on the next `run`.
- NonFiniteLoss: training diverged; the cell is recorded as failed and the matrix goes on.
- MatrixInterrupted: Ctrl-C (SIGINT) stopped a matrix; the cells it finished are in the store,
  the one in progress is not recorded; the command says how many were kept and exits 130.
"""


class ConfigError(ValueError):
    """A bad name or value from the user: reported as one line, exit status 2."""


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and line) and the fix."""


class DataUnavailable(RuntimeError):
    """The data cannot be had here (no network, no local copy): the cell is skipped, not failed."""


class NonFiniteLoss(FloatingPointError):
    """Training diverged; the cell is recorded as failed and the matrix goes on."""


class MatrixInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a matrix: `kept` of its cells have records in `folder`, the rest run on resume.
    A KeyboardInterrupt still, so that code which lets Ctrl-C through lets this through too."""

    def __init__(self, folder, kept: int):
        super().__init__(f"interrupted: {kept} cells kept in {folder}; run the same command to resume")
        self.folder, self.kept = folder, kept
