-- The Spark engine's ingest, decided in the warehouse: what Spark parsed (Parquet under the
-- staging folder) becomes new documents, rejections, seen-again versions and file states, by the
-- rules of the embedded scan (pipelines/defs/ingest.py `_Scan.add`), in the same file order.
-- Parameters: documents, rejections, files (Parquet globs), pending (the batch id), at (the scan time).
-- _file_order (file_path, file_order) is registered by the caller.

create or replace temp table _spark_parts as
select 'document' as kind, d.*, null::varchar as reason, null::varchar as detail,
       o.file_order, coalesce(try_cast(nullif(split_part(d.source_path, '#line=', 2), '') as integer), 0) as line_no
from read_parquet($documents) d
join _file_order o on o.file_path = split_part(d.source_path, '#line=', 1)
union all by name
select 'rejection' as kind, r.*, o.file_order,
       coalesce(try_cast(nullif(split_part(r.source_path, '#line=', 2), '') as integer), 0) as line_no
from read_parquet($rejections) r
join _file_order o on o.file_path = split_part(r.source_path, '#line=', 1);

-- an earlier version seen again at its own path: it becomes current again, nothing is ingested
create or replace temp table _spark_seen as
select p.source_path, p.content_sha256
from _spark_parts p join documents k on k.content_sha256 = p.content_sha256 and k.source_path = p.source_path;

-- what is neither seen again nor already rejected (same path, same content) is decided now
create or replace temp table _spark_open as
select p.* from _spark_parts p
where not exists (select 1 from _spark_seen s where s.source_path = p.source_path and s.content_sha256 = p.content_sha256)
  and not exists (select 1 from rejected_files x where x.source_path = p.source_path
                  and x.content_sha256 is not distinct from p.content_sha256);

-- documents: the first file (in scan order) with a content not ingested before is the document;
-- later ones, and content ingested before under another path, are duplicates naming the first
create or replace temp table _spark_ranked as
select p.*,
       row_number() over (partition by p.content_sha256 order by p.file_order, p.line_no) as rank_in_batch,
       first_value(p.source_path) over (partition by p.content_sha256 order by p.file_order, p.line_no) as first_in_batch,
       k.source_path as ingested_as
from _spark_open p left join documents k on k.content_sha256 = p.content_sha256
where p.kind = 'document';

insert into rejected_files by name
select source_path, content_sha256, reason, detail, $at as seen_at, $pending as ingest_batch_id
from _spark_open where kind = 'rejection'
union all by name
select source_path, content_sha256, 'duplicate_content' as reason,
       'the same content was already ingested as ' || coalesce(ingested_as, first_in_batch)
           || ' (doc_id ' || left(content_sha256, 16) || ')' as detail,
       $at as seen_at, $pending as ingest_batch_id
from _spark_ranked where ingested_as is not null or rank_in_batch > 1;

insert into documents by name
select doc_id, source_path, content_sha256, size_bytes, encoding, title, outlet, published_at, n_chars, text,
       $pending as ingest_batch_id, $at as ingested_at, true as is_current
from _spark_ranked where ingested_as is null and rank_in_batch = 1;

insert or replace into path_versions by name
select source_path, content_sha256, $at as last_seen_at from _spark_seen
union
select source_path, content_sha256, $at as last_seen_at from _spark_ranked where ingested_as is null and rank_in_batch = 1;

insert or replace into raw_file_states by name
select source_path, size_bytes, mtime_ns, content_sha256, $at as seen_at from read_parquet($files);

drop table _spark_parts;
drop table _spark_seen;
drop table _spark_open;
drop table _spark_ranked
