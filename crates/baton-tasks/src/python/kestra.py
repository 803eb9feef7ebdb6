"""Baton's stand-in for the `kestra` Python package.

Baton puts this module on PYTHONPATH for Python script tasks so that `from kestra import Kestra`
works in images without the package. When the real package is installed anywhere else on the
path, this module loads it instead and steps aside.

Scripts talk to Baton by printing whole lines `::{json}::` (Kestra's protocol): `outputs`
become the task's `vars`, `metrics` its metrics, `logs` its log lines.
"""

import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


def _installed_spec():
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    return importlib.machinery.PathFinder.find_spec(__name__, rest)


_real = _installed_spec()

if _real is not None and _real.loader is not None:
    # The import machinery returns whatever sys.modules holds once this module has run.
    _module = importlib.util.module_from_spec(_real)
    sys.modules[__name__] = _module
    _real.loader.exec_module(_module)
else:

    def _send(message):
        print("::" + json.dumps(message, default=str) + "::", flush=True)

    def _metric(name, kind, value, tags):
        _send({"metrics": [{"name": name, "type": kind, "value": value, "tags": tags or {}}]})

    _LEVELS = {"CRITICAL": "ERROR", "WARNING": "WARN"}

    class _ProtocolHandler(logging.Handler):
        def emit(self, record):
            level = _LEVELS.get(record.levelname, record.levelname)
            _send({"logs": [{"level": level, "message": self.format(record)}]})

    class Kestra:
        """Sends outputs, metrics and log lines to the task running this script."""

        @staticmethod
        def outputs(values):
            _send({"outputs": values})

        @staticmethod
        def counter(name, value, tags=None):
            _metric(name, "counter", value, tags)

        @staticmethod
        def timer(name, duration, tags=None):
            """`duration` in seconds, or a callable to time."""
            if callable(duration):
                started = time.perf_counter()
                duration()
                duration = time.perf_counter() - started
            _metric(name, "timer", duration, tags)

        @staticmethod
        def logger(name="kestra"):
            logger = logging.getLogger(name)
            if not any(isinstance(h, _ProtocolHandler) for h in logger.handlers):
                logger.addHandler(_ProtocolHandler())
                logger.setLevel(logging.DEBUG)
                logger.propagate = False
            return logger
