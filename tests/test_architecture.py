"""The import rules of README "Architecture" hold: ``bellamy`` (infrastructure) imports no
domain app, ``graph`` imports no other domain, ``posts`` only ``graph``, the reacting domains
and ``moderation`` do not import each other, and no domain imports ``analytics``, ``demo`` or
``bench`` (the contract is ``.importlinter``; import-linter follows indirect imports too)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    # A separate interpreter: inside the test process zope.interface (imported by Twisted, via
    # Daphne) decorates classes in a way import-linter's option check trips over.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config", str(ROOT / ".importlinter")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "Contracts: 1 kept, 0 broken."), result.stdout
