"""`bulkJob` shows the chunks of a job and who ran them (a CLI, a server or `leadgate worker`)."""

from __future__ import annotations

from strawberry.relay import to_base64

from api.enums import JobStatus
from tests.api.test_jobs import job_with_chunks
from tests.conftest import GraphQLClient

JOB = "query($id: ID!) { bulkJob(id: $id) { status chunks chunksDone runners processed } }"


async def test_bulk_job_counts_chunks_done_by_any_runner_and_names_the_runners(
    gql: GraphQLClient,
) -> None:
    chunks = await job_with_chunks(JobStatus.DONE, JobStatus.RUNNING, JobStatus.PENDING)
    job_id = chunks[0].job_id  # type: ignore[attr-defined]
    await chunks[0].filter(id=chunks[0].id).update(claimed_by="worker-host:7", processed=10)

    body = await gql(JOB, id=to_base64("BulkJob", job_id))
    assert body["data"]["bulkJob"] == {
        "status": "PENDING",
        "chunks": 3,
        "chunksDone": 1,
        "runners": ["host:1", "worker-host:7"],
        "processed": 10,
    }
