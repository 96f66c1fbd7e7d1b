"""The one exception type the package raises for bad input."""


class BnbMlirError(Exception):
    """Bad input: a missing file, an unsupported model, a malformed tensor.

    The message is one line that names the file, tensor or field at fault; the
    command-line interface prints it as ``error: <message>`` and exits with 1.
    """
