"""Temporal side of the baton-bench comparison: a workflow of N sequential activities.

Usage: python temporal_seq.py ADDRESS STEPS RUNS
Prints one JSON line: {"seconds": [wall time of each run, client start -> result]}.
One warm-up run comes first and is not reported. The worker runs in this process.
"""

import asyncio
import json
import sys
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

TASK_QUEUE = "baton-bench"


@activity.defn
async def step(i: int) -> int:
    return i


@workflow.defn
class Sequential:
    @workflow.run
    async def run(self, steps: int) -> int:
        total = 0
        for i in range(steps):
            total += await workflow.execute_activity(
                step, i, start_to_close_timeout=timedelta(seconds=60)
            )
        return total


async def main() -> None:
    address, steps, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = None
    for _ in range(100):  # the dev server may still be starting
        try:
            client = await Client.connect(address)
            break
        except Exception:  # noqa: BLE001 - any connection failure means "not yet"
            await asyncio.sleep(0.2)
    if client is None:
        client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[Sequential],
        activities=[step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        seconds = []
        for run in range(runs + 1):
            start = time.perf_counter()
            await client.execute_workflow(
                Sequential.run,
                steps,
                id=f"baton-bench-{run}-{time.time_ns()}",
                task_queue=TASK_QUEUE,
            )
            if run > 0:
                seconds.append(time.perf_counter() - start)
        # Printed before the worker shuts down: the figures survive a crash on the way out.
        print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
