"""End to end: batches arrive over time; a new copy joins the cluster history already has."""

import json
import os
import shutil

import duckdb

import pytest

from tests.conftest import RAW_SEEDS

pytestmark = pytest.mark.e2e

ON_RECORD = "%North Korea is on record as having fought for Russia%"


def _copy(cw, prefix: str) -> None:
    for path in RAW_SEEDS.glob(f"{prefix}_*.txt"):
        shutil.copy2(path, cw.raw / path.name)


def test_second_batch_copy_joins_the_existing_cluster_and_a_rerun_changes_nothing(claimwire):
    _copy(claimwire, "000")
    _copy(claimwire, "001")
    assert claimwire.run().success
    first_signed = claimwire.warehouse_query("select passage_id, band_keys from passage_signatures order by passage_id")
    first_cluster = claimwire.query(
        "select cluster_id from read_parquet('{release}/passages/*.parquet') where text like ?", [ON_RECORD]
    )
    assert len(first_cluster) == 1

    _copy(claimwire, "002")
    assert claimwire.run().success
    rows = claimwire.query(
        """
        select d.source_path, p.cluster_id
        from read_parquet('{release}/passages/*.parquet') p
        join read_parquet('{release}/documents/*.parquet') d using (doc_id)
        where p.text like ? order by d.source_path
        """,
        [ON_RECORD],
    )
    assert [r[0] for r in rows] == ["000_e4451c43269161c3.txt", "002_bc6a4e4eed50a539.txt"]
    assert rows[0][1] == rows[1][1]
    # history was not signed again: the first batch's signatures are untouched, 002's were added
    signed = claimwire.warehouse_query("select passage_id, band_keys from passage_signatures order by passage_id")
    assert [s for s in signed if not s[0].startswith(_doc_id(claimwire, "002"))] == first_signed
    assert claimwire.warehouse_query("select count(*) from ingest_batches") == [(2,)]
    # exactly one cluster spans two documents: the copied quote
    assert claimwire.query(
        "select count(*) from read_parquet('{release}/passage_clusters/*.parquet') where n_documents = 2"
    ) == [(1,)]

    tables = ["documents", "passages", "passage_clusters", "claims", "facts", "doc_syndication"]
    before = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in tables}
    assert claimwire.run().success
    after = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in tables}
    assert after == before
    assert claimwire.warehouse_query("select count(*) from ingest_batches") == [(2,)]


def _doc_id(cw, prefix: str) -> str:
    return cw.warehouse_query(f"select doc_id from documents where source_path like '{prefix}_%'")[0][0]


def test_a_warehouse_signed_before_the_minhash_column_is_upgraded_and_resigned(claimwire):
    # A warehouse built before `passage_signatures.minhash` existed: the table without the
    # column, holding signatures under the previous signature version.
    claimwire.add_seeds()
    assert claimwire.run().success
    tables = ["passages", "passage_clusters", "claims", "facts", "doc_syndication"]
    fresh = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in tables}
    n_signed = claimwire.warehouse_query("select count(*) from passage_signatures")[0][0]
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute("alter table passage_signatures drop column minhash")
        conn.execute("update stage_state set version = replace(version, '/z4', '') where stage = 'dedup'")

    assert claimwire.run().success
    assert claimwire.warehouse_query(
        "select count(*), count(*) filter (where len(minhash) = 120) from passage_signatures"
    ) == [(n_signed, n_signed)]
    assert claimwire.warehouse_query("select version from stage_state where stage = 'dedup'")[0][0].endswith("/z4")
    again = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in tables}
    assert again == fresh


def test_claims_extracted_in_worker_processes_equal_the_in_process_ones(claimwire, monkeypatch, tmp_path):
    # The run's claims step shares documents out to two spawned interpreters (the threshold is
    # lowered so five documents qualify); the release is the one a single process gives.
    import concurrent.futures

    import pipelines.lib.claims as claims_lib

    claimwire.add_seeds()
    monkeypatch.setenv("CLAIMWIRE_WORKERS", "1")
    assert claimwire.run().success
    # first_seen_at falls back to the time of ingest for undated documents: it differs between two warehouses
    tables = {"claims": "*", "facts": "* exclude (first_seen_at)", "quarantine": "*", "consistency": "*"}

    def release() -> dict:
        return {t: claimwire.query(f"select {columns} from read_parquet('{{release}}/{t}/*.parquet') order by all") for t, columns in tables.items()}

    single = release()

    pools = []

    class CountedPool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(claims_lib, "PARALLEL_MIN_PASSAGES", 0)
    monkeypatch.setenv("CLAIMWIRE_WORKERS", "2")
    claimwire.warehouse = tmp_path / "second" / "warehouse.duckdb"
    claimwire.published = tmp_path / "second" / "published"
    monkeypatch.setenv("CLAIMWIRE_WAREHOUSE", str(claimwire.warehouse))
    monkeypatch.setenv("CLAIMWIRE_PUBLISH_DIR", str(claimwire.published))
    assert claimwire.run().success
    assert pools == [2]
    assert release() == single
    assert len(single["claims"]) > 30


def _from_scratch(cw) -> dict[str, list[tuple]]:
    """The cluster tables recomputed from every passage and match in the warehouse."""
    from pipelines.defs.dedup import ALL_PASSAGES
    from pipelines.lib.dedup import cluster_passages, document_syndication

    with duckdb.connect(str(cw.warehouse), read_only=True) as conn:
        passages = conn.sql(ALL_PASSAGES).pl()
        members, clusters = cluster_passages(passages, conn.sql("select * from passage_matches").pl())
    syndication = document_syndication(passages, members)
    return {
        name: sorted(frame.rows())
        for name, frame in (("passage_cluster_members", members), ("passage_clusters", clusters), ("doc_syndication", syndication))
    }


def _facts_from_scratch(cw) -> dict[str, list[tuple]]:
    """The facts and their state built from every claim in the warehouse, as the stored tables."""
    from pipelines.defs.extract import FACT_INPUT_CLAIMS, FACT_INPUT_DOCUMENTS
    from pipelines.lib.facts import build_facts_and_state

    with duckdb.connect(str(cw.warehouse), read_only=True) as conn:
        facts, state = build_facts_and_state(conn.sql(FACT_INPUT_CLAIMS).pl(), conn.sql(FACT_INPUT_DOCUMENTS).pl())
    return {"facts": sorted(facts.rows()), "fact_sources": sorted(state.sources.rows()), "fact_dates": sorted(state.dates.rows())}


def _facts_event(result):
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["facts"]]
    return event.materialization.metadata


def _labels_are_current(cw) -> bool:
    """Every claim and quarantined row carries the label of its current mention, and every
    current mention has a row."""
    labelled = cw.warehouse_query(
        "select claim_id, cluster_id, is_syndicated_copy from claims union all "
        "select claim_id, cluster_id, is_syndicated_copy from quarantine order by claim_id"
    )
    return labelled == cw.warehouse_query("select * from current_claim_labels order by claim_id")


# the tables without a primary key whose rows are unique by how they are written (RETIRED_KEYS)
UNKEYED = {"passage_signatures": "passage_id", "passage_matches": "passage_id_a, passage_id_b", "stage_progress": "stage, doc_id"}


def _repeated_keys(cw) -> dict[str, int]:
    return {
        table: cw.warehouse_query(f"select count(*) from (select {key} from {table} group by all having count(*) > 1)")[0][0]
        for table, key in UNKEYED.items()
    }


def test_each_batch_relabels_only_what_it_touches_and_equals_clustering_from_scratch(claimwire, monkeypatch):
    # one document at a time: 002 copies a quote of 000, 003 and 004 share passages with earlier ones
    import pipelines.defs.extract as extract

    # each document holds a fifth to a half of the claims: merged all the same
    monkeypatch.setattr(extract, "MERGE_MAX_SHARE", 1.0)
    n_reclustered, n_labelled, modes, written, n_facts = [], [], [], [], []
    for prefix in ("000", "001", "002", "003", "004"):
        _copy(claimwire, prefix)
        result = claimwire.run()
        assert result.success
        expected = _from_scratch(claimwire)
        for table in ("passage_cluster_members", "passage_clusters", "doc_syndication"):
            assert sorted(claimwire.warehouse_query(f"select * from {table}")) == expected[table], (prefix, table)
        # the claims step relabels only the mentions in clusters the batch joined, and every
        # claim and quarantined row then carries the label of every current mention
        assert _labels_are_current(claimwire), prefix
        assert _repeated_keys(claimwire) == dict.fromkeys(UNKEYED, 0), prefix
        # the facts merge the batch's claims (and the clusters it joined) into what they were:
        # the same rows and state as built from every claim, writing only the facts it touched
        facts = _facts_from_scratch(claimwire)
        for table in ("facts", "fact_sources", "fact_dates"):
            assert sorted(claimwire.warehouse_query(f"select * from {table}")) == facts[table], (prefix, table)
        assert claimwire.warehouse_query("select count(*) from fact_backlog") == [(0,)]
        modes.append(_facts_event(result)["mode"].value)
        written.append(_facts_event(result)["facts_written"].value)
        n_facts.append(len(facts["facts"]))
        (materialization,) = [
            m for m in result.get_asset_materialization_events() if m.asset_key.path == ["passage_clusters"]
        ]
        n_reclustered.append(materialization.materialization.metadata["reclustered_passages"].value)
        (claims_event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["claims"]]
        n_labelled.append(claims_event.materialization.metadata["labels_recomputed"].value)
    n_passages = [
        claimwire.warehouse_query(f"select count(*) from passages p join documents d using (doc_id) where d.source_path like '{p}_%'")[0][0]
        for p in ("000", "001", "002", "003", "004")
    ]
    # the first run clusters everything; later ones the new document's passages and the clusters they join
    assert n_reclustered[0] == n_passages[0]
    assert all(n_passages[i] <= n_reclustered[i] < sum(n_passages[: i + 1]) for i in range(1, 5))
    assert n_reclustered[2] > n_passages[2]  # 002's copy joined 000's passage
    # a run with nothing new relabels nothing
    result = claimwire.run()
    (materialization,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["passage_clusters"]]
    assert materialization.materialization.metadata["reclustered_passages"].value == 0
    (claims_event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["claims"]]
    assert claims_event.materialization.metadata["labels_recomputed"].value == 0
    assert (_facts_event(result)["mode"].value, _facts_event(result)["facts_written"].value) == ("merged", 0)
    # the first run builds every fact; each later one merges its batch into the facts it touches
    assert modes == ["rebuilt", "merged", "merged", "merged", "merged"]
    # (001, another story, touches all ten facts there are then; the later ones fewer)
    assert (written, n_facts) == ([3, 10, 4, 8, 6], [3, 10, 11, 16, 18])
    # one progress row per stage and document, whichever runs wrote it again
    assert _repeated_keys(claimwire) == dict.fromkeys(UNKEYED, 0)
    assert claimwire.warehouse_query(
        "select stage, count(*) from stage_progress where stage in ('passages', 'dedup', 'claims', 'reclustered') group by 1 order by 1"
    ) == [("claims", 5), ("dedup", 5), ("passages", 5), ("reclustered", 5)]
    # each batch labels its own mentions and those of the clusters it joins, not all of them
    n_mentions = claimwire.warehouse_query("select count(*) from claim_mentions")[0][0]
    assert n_labelled[0] == claimwire.warehouse_query(
        "select count(*) from claim_mentions m join documents d using (doc_id) where d.source_path like '000_%'"
    )[0][0]
    assert all(0 < n < n_mentions for n in n_labelled[1:]), n_labelled


@pytest.mark.parametrize("recorded", [True, False], ids=["reclustered-recorded", "earlier-version"])
def test_labels_follow_the_clusters_a_batch_joins(claimwire, monkeypatch, recorded):
    """The claims step relabels the mentions of the documents the dedup step recorded as
    reclustered (every document of every cluster a batch joins); a batch clustered without that
    record (a warehouse last clustered by an earlier version) has the clusters of its documents'
    passages looked up instead. Either way every label is current after the run."""
    from pipelines.defs import dedup

    _copy(claimwire, "000")
    _copy(claimwire, "004")  # shares no passage with 000
    assert claimwire.run().success
    # a new article reprints a body passage of 000 that holds claims
    ((passage_text,),) = claimwire.warehouse_query(
        "select p.text from passages p join documents d using (doc_id) where d.source_path like '000_%' "
        "and not p.is_boilerplate and length(p.text) > 150 "
        "and passage_id in (select passage_id from claim_mentions) order by passage_id limit 1"
    )
    (claimwire.raw / "009_reprint.txt").write_text(f"Outlet Z\n\nA reprint\n\n{passage_text}\n", encoding="utf-8")
    if not recorded:
        monkeypatch.setattr(dedup, "mark_reclustered", lambda conn, documents: None)
    started = dedup.utc_now()
    result = claimwire.run()
    assert result.success
    assert _labels_are_current(claimwire)
    reprint = "select doc_id from documents where source_path = '009_reprint.txt'"
    # the documents recorded in this run: the reprint and 000, whose passage its copy joined
    recorded_now = claimwire.warehouse_query(
        f"select count(*) from stage_progress where stage = 'reclustered' and processed_at >= '{started.isoformat()}'"
    )[0][0]
    assert recorded_now == (2 if recorded else 0)
    (new,) = claimwire.warehouse_query(f"select count(*) from claim_mentions where doc_id in ({reprint})")[0]
    (in_clusters,) = claimwire.warehouse_query(
        "select count(*) from claim_mentions where passage_id in (select passage_id from passage_cluster_members "
        "where cluster_id in (select m.cluster_id from passage_cluster_members m join passages p using (passage_id) "
        f"where p.doc_id in ({reprint})))"
    )[0]
    (of_both,) = claimwire.warehouse_query(
        f"select count(*) from claim_mentions m join documents d using (doc_id) where d.source_path like '000_%' or doc_id in ({reprint})"
    )[0]
    (n_mentions,) = claimwire.warehouse_query("select count(*) from claim_mentions")[0]
    assert n_mentions > of_both > in_clusters > new > 0
    # the scope: every mention of the two documents, or those in the clusters the reprint joined
    (claims_event,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["claims"]]
    assert claims_event.materialization.metadata["labels_recomputed"].value == (of_both if recorded else in_clusters)


def test_a_batch_finds_its_unclustered_passages_without_comparing_the_whole_tables(claimwire, monkeypatch):
    from pipelines.defs import dedup

    # the whole-table comparison fails if it runs: batches on a consistent warehouse never need it
    monkeypatch.setattr(dedup, "UNCLUSTERED_ANYWHERE", "select passage_id from no_such_table")
    for prefix in ("000", "002"):
        _copy(claimwire, prefix)
        assert claimwire.run().success, prefix
        expected = _from_scratch(claimwire)
        for table in ("passage_cluster_members", "passage_clusters", "doc_syndication"):
            assert sorted(claimwire.warehouse_query(f"select * from {table}")) == expected[table], (prefix, table)


def test_a_passage_left_without_a_cluster_gets_one_with_the_next_batch(claimwire):
    _copy(claimwire, "000")
    assert claimwire.run().success
    # a passage of the first batch loses its cluster (its member row and its one-passage cluster)
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        ((passage_id,),) = conn.sql(
            "select canonical_passage_id from passage_clusters where n_passages = 1 order by cluster_id limit 1"
        ).fetchall()
        conn.execute("delete from passage_cluster_members where passage_id = ?", [passage_id])
        conn.execute("delete from passage_clusters where canonical_passage_id = ?", [passage_id])
    _copy(claimwire, "001")
    assert claimwire.run().success
    assert claimwire.warehouse_query(
        f"select cluster_id from passage_cluster_members where passage_id = '{passage_id}'"
    ) == [(passage_id,)]
    expected = _from_scratch(claimwire)
    for table in ("passage_cluster_members", "passage_clusters", "doc_syndication"):
        assert sorted(claimwire.warehouse_query(f"select * from {table}")) == expected[table], table


def test_a_batch_finds_its_unscreened_mentions_without_comparing_the_whole_tables(claimwire, monkeypatch):
    from pipelines.defs import extract

    # the whole-table comparison fails if it runs: batches on a consistent warehouse never need it
    monkeypatch.setattr(extract, "UNSCREENED_ANYWHERE", "select claim_id from no_such_table")
    for prefix in ("000", "002"):
        _copy(claimwire, prefix)
        assert claimwire.run().success, prefix
    assert _labels_are_current(claimwire)


def test_a_mention_left_unscreened_is_screened_with_the_next_batch(claimwire):
    _copy(claimwire, "000")
    assert claimwire.run().success
    # a claim of the first batch loses its row: its mention is in neither claims nor quarantine
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        ((claim_id, row),) = conn.sql(
            "select claim_id, to_json(c) from claims as c order by claim_id limit 1"
        ).fetchall()
        conn.execute("delete from claims where claim_id = ?", [claim_id])
    _copy(claimwire, "001")
    assert claimwire.run().success
    assert claimwire.warehouse_query(
        f"select to_json(c) from claims as c where claim_id = '{claim_id}'"
    ) == [(row,)]


PARTITIONED = ("documents", "passages", "claims")


def test_a_release_links_the_parts_whose_rows_did_not_change_and_rewrites_the_rest(claimwire, monkeypatch):
    from pipelines.defs import publish as publish_defs

    monkeypatch.setattr(publish_defs, "DOCS_PER_PART", 2)  # the first batch's 3 documents make 2 parts
    for prefix in ("000", "001", "003"):
        _copy(claimwire, prefix)
    assert claimwire.run().success
    first = claimwire.published.resolve()
    _copy(claimwire, "002")  # its copied quote joins a passage of 000: rows of an older part change
    assert claimwire.run().success
    second = claimwire.published.resolve()
    assert second != first
    manifest = json.loads((second / "_manifest.json").read_text())

    reused, rewritten = {}, {}
    for table in PARTITIONED:
        files = sorted(p.name for p in (second / table).glob("*.parquet"))
        assert files == sorted(manifest["tables"][table]["parts"])
        assert sum(part["rows"] for part in manifest["tables"][table]["parts"].values()) == manifest["tables"][table]["rows"]
        for name in files:
            old = first / table / name
            if not old.exists():
                continue  # the new batch's part
            linked = os.path.samefile(old, second / table / name)
            same_rows = claimwire.query(f"select * from read_parquet('{old}') order by all") == claimwire.query(
                f"select * from read_parquet('{second / table / name}') order by all"
            )
            assert linked == same_rows, (table, name)
            (reused if linked else rewritten).setdefault(table, []).append(name)
    # the first batch's documents never change; a passage of 000 joined 002's cluster
    assert len(reused["documents"]) == 2 and "documents" not in rewritten
    assert len(rewritten["passages"]) == 1 and len(reused["passages"]) == 1
    # the release holds what the warehouse holds, however its files were made
    for table in PARTITIONED:
        query, _ = publish_defs.RELEASE_TABLES[table]
        assert claimwire.query(f"select * from read_parquet('{{release}}/{table}/*.parquet') order by all") == (
            claimwire.warehouse_query(f"select * from ({query}) order by all")
        )


def test_a_part_is_rewritten_when_its_document_was_ingested_again_though_texts_are_not_hashed(claimwire, monkeypatch):
    """Texts are left out of the fingerprints (the document's ingest fixes them): a document
    ingested again, say into a rebuilt warehouse with other decoding, changes its
    `ingested_at`, and every part of its rows is written again with the new text."""
    from pipelines.defs import publish as publish_defs

    monkeypatch.setattr(publish_defs, "DOCS_PER_PART", 2)
    for prefix in ("000", "001", "003"):
        _copy(claimwire, prefix)
    assert claimwire.run().success
    first = claimwire.published.resolve()
    (doc_id,) = claimwire.warehouse_query("select min(doc_id) from documents")[0]
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute(
            "update documents set text = upper(text), ingested_at = ingested_at + interval 1 second where doc_id = ?", [doc_id]
        )
        conn.execute("update passages as p set text = upper(p.text) where doc_id = ?", [doc_id])
    assert claimwire.run().success
    second = claimwire.published.resolve()
    assert second != first
    for table in ("documents", "passages"):
        (part,) = [
            p.name for p in (second / table).glob("*.parquet")
            if claimwire.query(f"select count(*) from read_parquet('{p}') where doc_id = ?", [doc_id])[0][0]
        ]
        assert not os.path.samefile(first / table / part, second / table / part), table
        texts = claimwire.query(f"select text from read_parquet('{second / table / part}') where doc_id = ?", [doc_id])
        assert texts and all(text == text.upper() for (text,) in texts), table
        # the parts of the other documents are linked as they were
        others = [p for p in (second / table).glob("*.parquet") if p.name != part]
        assert others and all(os.path.samefile(first / table / p.name, p) for p in others), table


def test_a_warehouse_whose_mentions_kept_their_texts_is_upgraded_and_its_mentions_extracted_again(claimwire):
    # claim_mentions once stored each mention's quote and sentence (claims holds them): a
    # warehouse of that layout gets the sentence offsets instead, and the claims stage, whose
    # version names the stored columns, extracts its mentions again; the claims stay as they were
    import hashlib

    from pipelines.lib.claims import load_aliases, load_taxonomy

    claimwire.add_seeds()
    assert claimwire.run().success
    mentions = "select * exclude (sentence_start, sentence_end) from claim_mentions order by claim_id"
    before_mentions = claimwire.warehouse_query(mentions)
    before = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in ("claims", "facts")}
    old_version = hashlib.sha256(repr((load_taxonomy(), load_aliases())).encode()).hexdigest()[:16]
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute("alter table claim_mentions add column quote varchar")
        conn.execute("alter table claim_mentions add column sentence varchar")
        conn.execute("update claim_mentions m set quote = c.quote, sentence = c.sentence from claims c where c.claim_id = m.claim_id")
        conn.execute("alter table claim_mentions drop column sentence_start")
        conn.execute("alter table claim_mentions drop column sentence_end")
        conn.execute("update stage_state set version = ? where stage = 'claims'", [old_version])

    assert claimwire.run().success
    columns = claimwire.warehouse_query(
        "select column_name from duckdb_columns() where table_name = 'claim_mentions' order by column_index"
    )
    assert {"sentence_start", "sentence_end"} <= {c for (c,) in columns}
    assert not {"quote", "sentence"} & {c for (c,) in columns}
    assert claimwire.warehouse_query("select count(*) from claim_mentions where sentence_start is null") == [(0,)]
    assert claimwire.warehouse_query(mentions) == before_mentions
    # the stored offsets cut the claims' quotes and sentences from their passages
    assert claimwire.warehouse_query(
        """
        select count(*) from claim_mentions m join claims c using (claim_id) join passages p on p.passage_id = m.passage_id
        where substring(p.text, m.sentence_start - p.char_start + 1, m.sentence_end - m.sentence_start) <> c.sentence
           or substring(p.text, m.char_start - p.char_start + 1, m.char_end - m.char_start) <> c.quote
        """
    ) == [(0,)]
    assert len(before_mentions) > 20
    after = {t: claimwire.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all") for t in ("claims", "facts")}
    assert after == before


P1 = (
    "Officials in Seoul said on Monday that North Korea has sent 10,000 troops to the Russian region of Kursk, "
    "where they are being trained to operate drones and artillery alongside Russian units before any deployment "
    "near the front line."
)
P2 = (
    "A defence ministry spokesman told reporters in the capital that North Korea has sent 10,000 troops aboard "
    "cargo ships to Vladivostok in late October, and that they were moved west by train over the following weeks "
    "under heavy secrecy."
)


def test_a_passage_that_bridges_two_clusters_merges_their_sources_in_the_facts(claimwire, monkeypatch):
    # Two documents state 10,000 troops in unrelated paragraphs: two independent sources. A
    # third reprints both paragraphs as one, without the figure: it states nothing of that
    # fact, but its passage joins the two clusters, so the two statements become one source.
    # Only the relabelled claims tell the facts step so.
    import pipelines.defs.extract as extract

    monkeypatch.setattr(extract, "MERGE_MAX_SHARE", 1.0)  # three small documents
    (claimwire.raw / "a.txt").write_text(f"Troops in Kursk\n{P1}\n")
    (claimwire.raw / "b.txt").write_text(f"Troops by sea\n{P2}\n")
    assert claimwire.run().success
    troops = "select n_documents, n_independent_sources from facts where value_low = 10000 and unit = 'person'"
    assert claimwire.warehouse_query(troops) == [(2, 2)]
    bridge = P1.replace("has sent 10,000 troops", "has sent troops") + " " + P2.replace("has sent 10,000 troops", "has sent troops")
    (claimwire.raw / "c.txt").write_text(f"Both reports\n{bridge}\n")
    result = claimwire.run()
    assert result.success
    assert claimwire.warehouse_query(
        "select count(distinct m.cluster_id) from passage_cluster_members m join passages p using (passage_id) where p.ordinal = 2"
    ) == [(1,)]
    assert _facts_event(result)["mode"].value == "merged"
    assert claimwire.warehouse_query(troops) == [(2, 1)]
    facts = _facts_from_scratch(claimwire)
    for table in ("facts", "fact_sources", "fact_dates"):
        assert sorted(claimwire.warehouse_query(f"select * from {table}")) == facts[table], table

    # The bridge is forgotten (its pairs deleted; history keeps an older version's passages,
    # so only a change of what was matched does that) and every passage is clustered again: the
    # cluster splits, no claim is deleted, and the split makes the facts be grouped again.
    (c_doc,) = claimwire.warehouse_query("select doc_id from documents where source_path = 'c.txt'")[0]
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute("delete from passage_matches where passage_id_a like $c or passage_id_b like $c", {"c": f"{c_doc}-%"})
        conn.execute("update stage_state set version = 'before' where stage = 'clustering'")
    result = claimwire.run()
    assert result.success
    assert claimwire.warehouse_query(troops) == [(2, 2)]
    assert _facts_event(result)["mode"].value == "rebuilt"
    facts = _facts_from_scratch(claimwire)
    for table in ("facts", "fact_sources", "fact_dates"):
        assert sorted(claimwire.warehouse_query(f"select * from {table}")) == facts[table], table


def test_a_batch_past_a_quarter_of_the_claims_is_grouped_with_every_claim(claimwire):
    # 001 holds more claims than 000: merging them would cost more than grouping every claim
    _copy(claimwire, "000")
    assert claimwire.run().success
    n_before = claimwire.warehouse_query("select count(*) from claims")[0][0]
    _copy(claimwire, "001")
    result = claimwire.run()
    assert result.success
    n_after = claimwire.warehouse_query("select count(*) from claims")[0][0]
    assert n_after - n_before > 0.25 * n_after
    assert _facts_event(result)["mode"].value == "rebuilt"
    facts = _facts_from_scratch(claimwire)
    for table in ("facts", "fact_sources", "fact_dates"):
        assert sorted(claimwire.warehouse_query(f"select * from {table}")) == facts[table], table
