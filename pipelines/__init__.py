"""claimwire: raw news texts → a ledger of quantitative claims (see README.md)."""

import warnings

# Great Expectations imports pyspark when it is installed (it is, for the Spark engine), and
# pyspark warns at import that it does not fully support pandas 3. Nothing of ours uses pandas
# through pyspark (Arrow batches go through Polars), so the warning only clutters every run.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
