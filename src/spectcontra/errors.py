"""The one base class for input the user must fix, so that bugs are never reported as bad input.

An :class:`InputError` says that something the user supplied or controls cannot be used:
params, an audio file, a corpus CSV or protocol, a feature store, a model file, a path that
leads outside its root, a download. Its message names that input and what is wrong with it,
so the DVC stage runner (``spectcontra.stage``) prints it as one line and exits 2.

Anything else (a plain ``ValueError`` from a library, a ``ZeroDivisionError``, a shape check
inside the models) is a fault in this program and surfaces with its traceback. So library
code raises an ``InputError`` subclass only where the cause is the user's input, and a plain
``ValueError`` for arguments that only a programming error can get wrong.

The subclasses live beside the code that detects the problem (``AudioError`` in ``audio``,
``ConfigError`` in ``config``, ``ProtocolError`` in ``data.protocol`` ...); each still derives
from ``ValueError``, so existing ``except ValueError`` handlers keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input the user must fix; the message names it (a file, a params key, a URL)."""


class MissingInputError(InputError, FileNotFoundError):
    """An input file or folder that does not exist; still a ``FileNotFoundError`` to callers."""
