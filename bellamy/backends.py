"""The backend loader: one lazy instance per two-backend part, chosen from settings.

Modelled on Django's ``CACHES`` and Sentry's ``LazyServiceWrapper``: a setting holds
``{"BACKEND": "dotted.path.Class", "OPTIONS": {...}}``; the first :func:`get_backend` call
imports the class and builds it with ``**OPTIONS``; later calls return the same instance.
When a test changes the setting (``override_settings`` / pytest-django ``settings``), the
cached instance is closed and dropped so the next call builds the new backend.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

_instances: dict[str, Any] = {}
_lock = threading.Lock()


def build_backend(spec: dict, *, setting: str = "<spec>") -> Any:
    """Build a backend from a ``{"BACKEND": dotted path, "OPTIONS": {...}}`` spec.

    Raises:
        ImproperlyConfigured: ``BACKEND`` is missing or cannot be imported.
    """
    try:
        path = spec["BACKEND"]
    except (KeyError, TypeError):
        raise ImproperlyConfigured(f"{setting} needs a 'BACKEND' dotted path") from None
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{setting}: cannot import backend {path!r}: {exc}") from exc
    return cls(**spec.get("OPTIONS", {}))


def get_backend(setting: str) -> Any:
    """Return the (cached) backend instance configured by the setting named ``setting``.

    Args:
        setting: a settings name such as ``"BELLAMY_EVENTS"``.
    Returns:
        The backend object, built once per process and per setting value.
    """
    try:
        return _instances[setting]
    except KeyError:
        pass
    with _lock:
        if setting not in _instances:
            _instances[setting] = build_backend(getattr(settings, setting), setting=setting)
        return _instances[setting]


def reset_backend(setting: str | None = None) -> None:
    """Close and forget the cached backend of ``setting`` (all of them when ``None``)."""
    with _lock:
        names = [setting] if setting else list(_instances)
        for name in names:
            instance = _instances.pop(name, None)
            close = getattr(instance, "close", None)
            if callable(close):
                close()


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _instances:
        reset_backend(setting)
