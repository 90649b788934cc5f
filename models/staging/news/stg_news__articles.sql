-- Raw news is append-only: a changed article is a new row with a newer ingested_at and a
-- different content_hash. Staging keeps the latest version of each article.
with

source as (

    select * from {{ source('news', 'raw_articles') }}

),

latest as (

    select *
    from source
    qualify row_number() over (
        partition by article_id
        order by ingested_at desc, content_hash
    ) = 1

),

renamed as (

    select
        article_id as id,
        outlet,
        url,
        title,
        nullif(subtitle, '') as subtitle,
        published_at,
        published_at_text,
        -- Values written before the event-time rework: text / none.
        case published_at_source
            when 'iso' then 'text'
            when 'rfc2822' then 'text'
            when 'italian_text' then 'text'
            when 'missing' then 'none'
            else coalesce(published_at_source, 'none')
        end as published_at_source,
        nullif(snapshot_url, '') as snapshot_url,
        captured_at,
        coalesce(flags, []::varchar[]) as flags,
        nullif(author, '') as author,
        coalesce(tags, []::varchar[]) as tags,
        content,
        len(string_split(content, chr(10) || chr(10))) as n_paragraphs,
        len(regexp_split_to_array(trim(content), '\s+')) as n_words,
        source as ingest_source,
        content_hash,
        ingested_at,
        run_id,

    from latest

)

select * from renamed
