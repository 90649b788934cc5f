-- One row per story cluster (singletons included, flagged by is_multi_article): its
-- articles in time order, outlets, dates, tags, and the copies dedup folded into it.
with

assigned as (

    select * from {{ ref('int_news_clusters_assigned') }}

),

articles as (

    select * from {{ ref('int_news_articles_deduplicated') }}

),

duplicates as (

    select * from {{ ref('int_news_article_duplicates') }}
    where not is_canonical

),

members as (

    select
        assigned.cluster_id,
        assigned.article_id,
        assigned.event_at,
        assigned.nearest_member_similarity,
        articles.outlet,
        articles.url,
        articles.title,
        articles.published_at,
        articles.tags,

    from assigned
    inner join articles
        on articles.article_id = assigned.article_id

),

copies as (

    select
        assigned.cluster_id,
        list(duplicates.article_id order by duplicates.article_id) as duplicate_article_ids,

    from duplicates
    inner join assigned
        on assigned.article_id = duplicates.canonical_article_id
    group by assigned.cluster_id

),

clusters as (

    select
        cluster_id,
        count(*) as n_articles,
        count(*) >= 2 as is_multi_article,
        list(article_id order by event_at, article_id) as article_ids,
        list(url order by event_at, article_id) as urls,
        list(title order by event_at, article_id) as titles,
        list(outlet order by event_at, article_id) as article_outlets,
        list_sort(list_distinct(list(outlet))) as outlets,
        count(distinct outlet) as n_outlets,
        list(published_at order by event_at, article_id) as published_dates,
        min(event_at) as first_published_at,
        max(event_at) as last_published_at,
        list_sort(list_distinct(flatten(list(tags)))) as tags,
        min(nearest_member_similarity) as min_nearest_similarity,

    from members
    group by cluster_id

),

final as (

    select
        clusters.*,
        coalesce(copies.duplicate_article_ids, []::varchar[]) as duplicate_article_ids,
        len(coalesce(copies.duplicate_article_ids, []::varchar[])) as n_duplicates,

    from clusters
    left join copies
        on copies.cluster_id = clusters.cluster_id

)

select * from final
