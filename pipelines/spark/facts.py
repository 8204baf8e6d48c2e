"""Facts on Spark: the Spark SQL twin of `pipelines.lib.facts.build_facts`, row for row.

Same key, same counts, same lists in the same order (Spark and Polars both order strings by
their UTF-8 bytes). Two pieces are not plain SQL, each for a reason:

- fact ids are hashed by the same `fact_id_for` on the distinct keys (one Arrow batch per
  partition), because the id hashes Python's `repr` of the values and Spark prints doubles
  differently (`6.0E8` where Python writes `600000000.0`);
- independent sources are connected components of the outlet–cluster graph per fact, by
  `pipelines.spark.graph.connected_components`.
"""

import polars as pl
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.lib.facts import FACT_KEY, FACTS_SCHEMA, UNCONFLICTED_MEASURES, fact_id_for
from pipelines.spark.arrow import map_frames, spark_schema
from pipelines.spark.graph import connected_components

_KEY_SCHEMA = {name: FACTS_SCHEMA[name] for name in FACT_KEY}


def build_facts(claims: DataFrame, documents: DataFrame) -> DataFrame:
    """One row per distinct claim (FACTS_SCHEMA), from published claim rows and their documents.

    `claims` has at least claim_id, doc_id, cluster_id, measure, unit, period, value_low,
    value_high, qualifier, attributed_to; `documents` has doc_id, outlet, published_at,
    ingested_at. Row order is not defined (the warehouse and the release sort on read).
    """
    keys = map_frames(claims.select(FACT_KEY).distinct(), _with_fact_ids, _KEY_SCHEMA | {"fact_id": pl.Utf8})
    joined = claims.alias("c").join(
        keys.alias("k"), on=[F.col(f"c.{name}").eqNullSafe(F.col(f"k.{name}")) for name in FACT_KEY]
    )
    mentions = (
        joined.select("c.*", "k.fact_id")
        .join(documents.select("doc_id", "outlet", "published_at", "ingested_at"), on="doc_id", how="left")
        .withColumn("source_key", F.concat(F.lit("outlet:"), F.coalesce(F.lower("outlet"), F.col("doc_id"))))
        .localCheckpoint(eager=True)
    )
    facts = mentions.groupBy("fact_id").agg(
        *[F.first(name, ignorenulls=True).alias(name) for name in FACT_KEY],
        F.array_sort(F.collect_set("qualifier")).alias("qualifiers"),
        F.count(F.lit(1)).alias("n_mentions"),
        F.countDistinct("doc_id").alias("n_documents"),
        F.array_sort(F.collect_set("attributed_to")).alias("attributed_to"),
        F.coalesce(F.min("published_at"), F.min("ingested_at")).alias("first_seen_at"),
        F.array_sort(F.collect_list("claim_id")).alias("claim_ids"),
    )
    empty_list = F.array().cast("array<string>")
    built = (
        facts.join(_independent_sources(mentions), on="fact_id", how="left")
        .join(_conflicts(facts), on="fact_id", how="left")
        .withColumn("conflicts_with", F.coalesce("conflicts_with", empty_list))
    )
    schema = spark_schema(FACTS_SCHEMA)
    return built.select([F.col(field.name).cast(field.dataType) for field in schema.fields])


def _with_fact_ids(keys: pl.DataFrame) -> pl.DataFrame:
    return keys.with_columns(
        fact_id=pl.struct(FACT_KEY).map_elements(lambda k: fact_id_for(**k), return_dtype=pl.Utf8)
    )


def _independent_sources(mentions: DataFrame) -> DataFrame:
    """Per fact: the number of components linking the outlets of its mentions through their clusters."""
    edges = mentions.select(
        F.concat_ws("|", "fact_id", "source_key").alias("a"),
        F.concat(F.col("fact_id"), F.lit("|cluster:"), F.col("cluster_id")).alias("b"),
    )
    components = connected_components(edges, "a", "b")
    return (
        components.where(F.col("node").contains("|outlet:"))
        .select(F.split("node", r"\|").getItem(0).alias("fact_id"), "component")
        .groupBy("fact_id")
        .agg(F.countDistinct("component").alias("n_independent_sources"))
    )


def _conflicts(facts: DataFrame) -> DataFrame:
    scoped = facts.where(~F.col("measure").isin(*UNCONFLICTED_MEASURES)).select(
        "fact_id", "measure", "unit", F.coalesce("period", F.lit("")).alias("period")
    )
    other = scoped.withColumnRenamed("fact_id", "fact_id_other")
    return (
        scoped.join(other, on=["measure", "unit", "period"])
        .where(F.col("fact_id") != F.col("fact_id_other"))
        .groupBy("fact_id")
        .agg(F.array_sort(F.collect_list("fact_id_other")).alias("conflicts_with"))
    )
