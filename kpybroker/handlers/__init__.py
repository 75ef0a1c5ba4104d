"""Request handlers: one module per API key, found automatically.

Each module registers its coroutine with ``@handler(ApiKey.X, min, max)`` from
``kpybroker.dispatch``. ``load_all()`` imports every module in this package, so
adding ``kpybroker/handlers/<api>.py`` is all it takes to serve a new API; there
is no shared list to edit. A module that fails to import is logged with its
traceback and skipped, so one broken handler does not take the broker down (its
API is then simply not advertised).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

log = logging.getLogger(__name__)

_loaded = False
failed: dict[str, BaseException] = {}


def load_all() -> None:
    """Import every handler module once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = f"{__name__}.{info.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported, broker keeps the other APIs
            failed[name] = exc
            log.exception("handler module %s failed to import; its API is not served", name)
