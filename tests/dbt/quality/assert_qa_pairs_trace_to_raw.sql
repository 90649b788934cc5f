-- Lineage: every QA pair names at least one raw row, and every raw id it names exists in
-- the raw table it names (lake/raw/hf record_id, lake/raw/news article_id). Returns the
-- pairs that do not trace back.
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

raw_hf as (

    select distinct record_id as raw_id from {{ source('hf', 'raw_instructions') }}

),

raw_news as (

    select distinct article_id as raw_id from {{ source('news', 'raw_articles') }}

),

named as (

    select qa_id, source_table, unnest(source_record_ids) as raw_id
    from pairs

),

missing as (

    select named.qa_id, named.source_table, named.raw_id
    from named
    left join raw_hf on named.source_table = 'hf' and named.raw_id = raw_hf.raw_id
    left join raw_news on named.source_table = 'news' and named.raw_id = raw_news.raw_id
    where raw_hf.raw_id is null and raw_news.raw_id is null

),

empty_lineage as (

    select qa_id, source_table, cast(null as varchar) as raw_id
    from pairs
    where source_record_ids is null or len(source_record_ids) = 0

)

select * from missing
union all
select * from empty_lineage
