"""Jobs queued by the previous release still run after an upgrade.

RQ stores a job's function as a dotted name ("workers.sla.tick"); jobs waiting in Redis
while the service is upgraded are run by the new code under the names the old code used.
These are the names the previous release enqueued, on the queues it used.
"""

from __future__ import annotations

import pytest
from flask import Flask
from rq.job import JobStatus

from review.core.jobs import ALL_QUEUES, CHECKS, DEFAULT, WEBHOOKS, rq_queue

PERIODIC = ("workers.sweep.sweep", "workers.sla.tick", "workers.retention.purge",
            "workers.alerts.evaluate", "workers.rollups.refresh", "workers.learning.refresh")
MISSING_ITEM = "itm_gone_before_its_check"
MISSING_DELIVERY = 2_000_000_000


@pytest.fixture
def empty_queues(app: Flask) -> None:
    with app.app_context():
        for name in ALL_QUEUES:
            rq_queue(name).empty()  # jobs an earlier test left behind


def test_jobs_queued_under_the_previous_releases_names_run(app: Flask, empty_queues,
                                                           worker_process):
    with app.app_context():
        jobs = [rq_queue(DEFAULT).enqueue(name) for name in PERIODIC]
        # A check and a delivery whose rows are gone by the time they run are skipped.
        check = rq_queue(CHECKS).enqueue("workers.checks.run_check", MISSING_ITEM)
        delivery = rq_queue(WEBHOOKS).enqueue("workers.webhooks.deliver", MISSING_DELIVERY)
    jobs += [check, delivery]

    worker = worker_process("--burst")
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output

    for job in jobs:
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED, f"{job.func_name}: {job.exc_info}"
    assert check.return_value() == "skipped"
    assert delivery.return_value() == "skipped"
    assert isinstance(jobs[PERIODIC.index("workers.sla.tick")].return_value(), dict)
