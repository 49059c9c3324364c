"""ASGI entry point: HTTP (Django) and WebSocket (Channels) in one application."""

import ctypes
import multiprocessing
import os
import signal

from django.core.asgi import get_asgi_application


def exit_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux ``prctl``
    ``PR_SET_PDEATHSIG``), and exit now if the parent is already gone.

    ``bin/web`` asks for it (``BELLAMY_WEB_EXIT_WITH_PARENT=1``): Granian's worker processes
    import this module, and a Granian main process killed outright (SIGKILL, the OOM killer)
    used to leave its workers running as orphans that kept the port, so the restart by the
    process manager could not bind it. Granian spawns and respawns workers from its main
    thread, whose exit is what the kernel watches.
    """
    spawner = multiprocessing.parent_process()  # Granian's main process (None if not spawned)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if spawner is not None and os.getppid() != spawner.pid:  # died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


if os.environ.get("BELLAMY_WEB_EXIT_WITH_PARENT") == "1":
    exit_with_parent()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (after Django setup)

from bellamy.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
