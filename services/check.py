"""Readiness probes used by bin/services (run with the project's venv Python).

    python services/check.py kafka|neo4j|mongo PORT

Exit status: 0 = the service answered a real query, 1 = it did not (reason on stderr),
3 = the client library is not installed in this Python (the caller falls back to
another probe).
"""
import os
import sys

HOST = "127.0.0.1"


def kafka(port):
    try:
        from kafka import KafkaAdminClient
    except ImportError:
        return 3
    admin = KafkaAdminClient(
        bootstrap_servers=f"{HOST}:{port}",
        client_id="bellamy-services-check",
        request_timeout_ms=5000,
        bootstrap_timeout_ms=4000,
    )
    try:
        admin.list_topics()
    finally:
        admin.close()
    return 0


def neo4j(port):
    try:
        from neo4j import GraphDatabase
    except ImportError:
        return 3
    # Auth is disabled on the local server; the driver still wants some credentials.
    with GraphDatabase.driver(
        f"bolt://{HOST}:{port}", auth=("neo4j", "neo4j"), connection_timeout=3
    ) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        if records[0]["one"] != 1:
            raise RuntimeError("RETURN 1 did not return 1")
    return 0


def mongo(port):
    try:
        from pymongo import MongoClient
    except ImportError:
        return 3
    client = MongoClient(HOST, int(port), serverSelectionTimeoutMS=3000, connectTimeoutMS=3000)
    try:
        client.admin.command("ping")
    finally:
        client.close()
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("kafka", "neo4j", "mongo"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return globals()[argv[1]](argv[2])
    except Exception as exc:  # any failure means "not ready yet"
        print(f"{argv[1]} not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    status = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's shutdown, which waits for the clients' background threads.
    os._exit(status)
