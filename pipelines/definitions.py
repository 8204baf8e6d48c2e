"""The claimwire code location: every asset, check, job and schedule, and the resources they use."""

from dagster import Definitions, in_process_executor

from pipelines.defs.dedup import cluster_syndicated_passages, passages
from pipelines.defs.engine import Engine
from pipelines.defs.extract import consistency, extract_and_screen_claims, facts
from pipelines.defs.ingest import ingest_raw_files
from pipelines.defs.jobs import claimwire_job, daily_schedule
from pipelines.defs.publish import published
from pipelines.defs.resources import RawFolder, ReleasePublisher, Warehouse
from pipelines.defs.sensors import raw_folder_sensor
from pipelines.defs.validate import BackgroundChecks, ValidationSettings, table_checks

defs = Definitions(
    assets=[ingest_raw_files, passages, cluster_syndicated_passages, extract_and_screen_claims, facts, consistency, published],
    asset_checks=table_checks,
    jobs=[claimwire_job],
    schedules=[daily_schedule],
    sensors=[raw_folder_sensor],
    resources={
        "raw_folder": RawFolder(),
        "warehouse": Warehouse(),
        "publisher": ReleasePublisher(),
        "validation": ValidationSettings(),
        "engine": Engine(),
        "checks": BackgroundChecks(),
    },
    # materialisations from the UI run in one process too: checks before the release (by
    # priority), about 4x faster than a process per step on 2 cores
    executor=in_process_executor,
)
