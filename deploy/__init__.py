"""Deployment tooling of Bellamy Book: the process manager configuration of the stack
(``deploy.stack``), the fault drills (``deploy.drill``), example systemd units and container
files. Top floor: it may be imported by ``bin/stack``, the tests, the benchmarks and the demo;
nothing under ``bellamy/`` or a domain imports it.
"""
