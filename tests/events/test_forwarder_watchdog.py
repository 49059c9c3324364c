"""The forwarder process exits to be restarted when its Kafka client stops returning."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_forwarder_stuck_in_a_kafka_call_exits_with_status_75_for_its_process_manager(tmp_path):
    # Given a "broker" that accepts connections and never answers (a hung server, a black hole),
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        port = hung.getsockname()[1]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bellamy.settings", "DATABASE_URL": "",
               "BELLAMY_EVENTS_URL": f"kafka://127.0.0.1:{port}", "BELLAMY_TOPIC_PREFIX": "watchdog.",
               "CELERY_BROKER_URL": "", "REDIS_URL": ""}
        # when the forwarder runs with a 3 s watchdog,
        result = subprocess.run(
            [sys.executable, "manage.py", "run_event_forwarder", "--watchdog", "3",
             "--liveness-file", str(tmp_path / "alive")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
    # then it exits with status 75 and says why, instead of hanging forever.
    assert result.returncode == 75, result.stdout[-2000:] + result.stderr[-2000:]
    assert "no progress for" in result.stderr and "exiting to be restarted" in result.stderr
