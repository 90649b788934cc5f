-- Which outlets cover the same stories: one row per combination of outlets found in a
-- news cluster (e.g. 'ansa+ilpost'), with the clusters, their articles (mean and largest
-- per cluster) and how many of them became a QA pair.
with

clusters as (

    select * from {{ ref('news_clusters') }}

),

pairs as (

    select * from {{ ref('qa_pairs') }}

),

news_pairs as (

    select distinct cluster_id from pairs where domain = 'news'

),

combined as (

    select
        array_to_string(list_sort(outlets), '+') as outlet_combination,
        len(outlets) as n_outlets,
        clusters.cluster_id,
        clusters.n_articles,
        clusters.n_duplicates,
        news_pairs.cluster_id is not null as has_qa_pair,
    from clusters
    left join news_pairs on clusters.cluster_id = news_pairs.cluster_id

),

final as (

    select
        outlet_combination,
        any_value(n_outlets) as n_outlets,
        count(*) as n_clusters,
        count(*) filter (where n_articles >= 2) as n_multi_article_clusters,
        sum(n_articles) as n_articles,
        avg(n_articles) as mean_articles_per_cluster,
        max(n_articles) as max_articles_per_cluster,
        sum(n_duplicates) as n_duplicate_copies,
        count(*) filter (where has_qa_pair) as n_qa_pairs,
    from combined
    group by outlet_combination

)

select * from final
