-- The articles the news integration works on: one per duplicate group (the canonical one,
-- the earliest published), with the time clustering uses: the publication time, never the
-- ingestion time. An article without one keeps event_at null (event_at_missing) and is
-- clustered without the time window.
with

articles as (

    select * from {{ ref('stg_news__articles') }}

),

duplicates as (

    select * from {{ ref('int_news_article_duplicates') }}

),

canonical as (

    select
        articles.id as article_id,
        articles.outlet,
        articles.url,
        articles.title,
        articles.subtitle,
        articles.published_at,
        articles.published_at_source,
        articles.published_at as event_at,
        articles.published_at is null as event_at_missing,
        articles.tags,
        articles.content,
        articles.n_words,
        articles.content_hash,
        duplicates.duplicate_group_size,

    from articles
    inner join duplicates
        on duplicates.article_id = articles.id
    where duplicates.is_canonical

)

select * from canonical
