-- question: which facts contradict each other, and how well supported is each side?
-- grain: one row per unordered pair of conflicting facts (same measure, unit and period,
--        different value range). The side with the lower range is `a`; a pair listed in either
--        fact's conflicts_with appears once.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

facts as (
    select * from read_parquet(getvariable('release') || '/facts/*.parquet')
),

conflict_edges as (
    select fact_id, unnest(conflicts_with) as other_fact_id
    from facts
),

-- one row per pair, whichever side listed it
conflict_pairs as (
    select distinct
        least(fact_id, other_fact_id) as fact_id_1,
        greatest(fact_id, other_fact_id) as fact_id_2
    from conflict_edges
),

oriented_pairs as (
    select
        case when (one.value_low, one.value_high, one.fact_id) <= (two.value_low, two.value_high, two.fact_id)
            then one.fact_id else two.fact_id end as fact_id_a,
        case when (one.value_low, one.value_high, one.fact_id) <= (two.value_low, two.value_high, two.fact_id)
            then two.fact_id else one.fact_id end as fact_id_b
    from conflict_pairs
    join facts as one on one.fact_id = conflict_pairs.fact_id_1
    join facts as two on two.fact_id = conflict_pairs.fact_id_2
),

pairs as (
    select
        a.measure,
        a.unit,
        a.period,
        a.value_low as value_low_a,
        a.value_high as value_high_a,
        a.n_independent_sources as n_independent_sources_a,
        list_sort(a.attributed_to) as attributed_to_a,
        b.value_low as value_low_b,
        b.value_high as value_high_b,
        b.n_independent_sources as n_independent_sources_b,
        list_sort(b.attributed_to) as attributed_to_b,
        oriented_pairs.fact_id_a,
        oriented_pairs.fact_id_b
    from oriented_pairs
    join facts as a on a.fact_id = oriented_pairs.fact_id_a
    join facts as b on b.fact_id = oriented_pairs.fact_id_b
)

select *
from pairs
order by measure, unit, period nulls first, value_low_a, value_high_a, value_low_b, value_high_b
