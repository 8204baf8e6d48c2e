"""Spark versions of the heavy stages (`CLAIMWIRE_ENGINE=spark`), with no Dagster import.

Each function takes and returns Spark DataFrames. Row-wise text work (splitting passages,
reading claims, parsing raw files) runs as Arrow batches (`mapInArrow`) that call the very
same pure functions as the embedded path, so both engines produce the same rows; set-wise
work (facts, connected components) is Spark SQL. Nothing collects the corpus to the driver.
"""
