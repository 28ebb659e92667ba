"""The one exception type the CLI turns into a one-line error."""


class PyimageError(Exception):
    """Bad input or a failed check, with a message fit for a single line.

    The message names the package, file or attribute at fault and what to do
    about it. The CLI prints it as ``pyimage: error: <message>`` and exits 2.
    """
