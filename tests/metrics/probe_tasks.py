"""Tasks loaded only by the worker that the task-metrics test starts (``celery worker --include``)."""

from bellamy.celery import app


@app.task(name="metricsprobe.flaky_task", bind=True, max_retries=3)
def flaky_task(self, fail_times: int) -> str:
    """Fail (and retry at once) the first ``fail_times`` runs, then succeed."""
    if self.request.retries < fail_times:
        raise self.retry(countdown=0)
    return "done"


@app.task(name="metricsprobe.broken_task")
def broken_task() -> None:
    """Always fail."""
    raise ValueError("broken on purpose")
