-- The sources of every multi-article story cluster, in time order, with the vector the
-- clustering used: what the summarizer and the faithfulness scores read.
with

clusters as (

    select * from {{ ref('int_news_clusters_assigned') }}
    where cluster_size >= 2

),

articles as (

    select * from {{ ref('int_news_articles_deduplicated') }}

),

embeddings as (

    select embedding_id, embedding from {{ ref('int_news_article_embeddings') }}

),

joined as (

    select
        clusters.cluster_id,
        clusters.article_id,
        row_number() over (
            partition by clusters.cluster_id
            order by clusters.event_at, clusters.article_id
        ) as source_position,
        clusters.cluster_size,
        articles.outlet,
        articles.url,
        articles.title,
        articles.subtitle,
        articles.published_at,
        articles.event_at,
        articles.tags,
        articles.content,
        embeddings.embedding,

    from clusters
    inner join articles
        on articles.article_id = clusters.article_id
    inner join embeddings
        on embeddings.embedding_id = clusters.embedding_id

)

select * from joined
