"""Arrow-batch plumbing shared by the stages: Polars frames in and out of `mapInArrow`."""

from collections.abc import Callable, Iterator

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
)

_SPARK_TYPES: dict[type, DataType] = {
    pl.Utf8: StringType(),
    pl.Int32: IntegerType(),
    pl.Int64: LongType(),
    pl.Float64: DoubleType(),
    pl.Boolean: BooleanType(),
}


def spark_type(dtype: pl.DataType) -> DataType:
    if isinstance(dtype, pl.Datetime):
        return TimestampNTZType()
    if isinstance(dtype, pl.List):
        return ArrayType(spark_type(dtype.inner))
    return _SPARK_TYPES[dtype.base_type()]


def spark_schema(schema: dict[str, pl.DataType]) -> StructType:
    """The Spark schema of a Polars schema (the stage schemas in pipelines.lib)."""
    return StructType([StructField(name, spark_type(dtype)) for name, dtype in schema.items()])


def map_frames(
    frame: DataFrame, function: Callable[[pl.DataFrame], pl.DataFrame], schema: dict[str, pl.DataType]
) -> DataFrame:
    """Apply a Polars function to each Arrow batch of `frame`; its output must have `schema`.

    The function runs on the executors, once per batch, so it must only need the rows of its
    batch (callers arrange that whole documents travel together).
    """
    arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            out = function(pl.from_arrow(batch))
            if out.is_empty():
                continue
            yield from out.select(list(schema)).cast(schema).to_arrow().cast(arrow_schema).to_batches()

    return frame.mapInArrow(per_batch, spark_schema(schema))
