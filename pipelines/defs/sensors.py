"""The raw-folder sensor: one run of the whole graph per batch of new or changed files."""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from pipelines.defs.jobs import claimwire_job
from pipelines.defs.resources import RawFolder
from pipelines.lib.batches import decode_cursor, diff_listing, encode_cursor, stamp

# Run tags hold the batch so a run can be traced to its files; long lists are cut, the count is not.
MAX_FILES_IN_TAG = 50


@sensor(
    job=claimwire_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Watches CLAIMWIRE_RAW_DIR. When files are added or changed it requests one run of the whole "
        "graph for that batch (tagged with the batch key and its files); nothing changed, no run."
    ),
)
def raw_folder_sensor(context: SensorEvaluationContext, raw_folder: RawFolder):
    files = raw_folder.listing()
    listing = dict(zip(files["source_path"], map(stamp, files["size_bytes"], files["mtime_ns"])))
    batch = diff_listing(decode_cursor(context.cursor), listing)
    if batch is None:
        return SkipReason(f"no new or changed files among {len(listing)} in {raw_folder.root}")
    shown = batch.files[:MAX_FILES_IN_TAG]
    context.update_cursor(encode_cursor(listing))
    return RunRequest(
        run_key=f"raw-batch-{batch.key}",
        tags={
            "claimwire/batch": batch.key,
            "claimwire/batch_new_files": str(len(batch.new_files)),
            "claimwire/batch_changed_files": str(len(batch.changed_files)),
            "claimwire/batch_files": ", ".join(shown) + (" …" if len(batch.files) > len(shown) else ""),
        },
    )
