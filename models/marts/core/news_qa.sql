-- One row per news QA pair: question (instruction + sources), answer (the integrated
-- summary), the sources as documents, the summary-to-source similarities and the
-- generation's provenance. Only summaries of clusters that exist now are listed.
with

summaries as (

    select * from {{ ref('int_news_summaries_generated') }}

),

scores as (

    select * from {{ ref('int_news_summaries_scored') }}

),

cluster_sources as (

    select * from {{ ref('int_news_cluster_sources') }}

),

summary_sources as (

    select
        qa_id,
        cluster_id,
        unnest(source_article_ids) as article_id,
        generate_subscripts(source_article_ids, 1) as position,

    from summaries

),

source_documents as (

    select
        summary_sources.qa_id,
        list(
            {
                'article_id': cluster_sources.article_id,
                'title': cluster_sources.title,
                'link': cluster_sources.url,
                'date': cluster_sources.published_at,
                'content': cluster_sources.content,
                'tags': cluster_sources.tags,
                'outlet': cluster_sources.outlet,
            }
            order by summary_sources.position
        ) as sources,
        count(*) as n_sources,

    from summary_sources
    inner join cluster_sources
        on cluster_sources.cluster_id = summary_sources.cluster_id
        and cluster_sources.article_id = summary_sources.article_id
    group by summary_sources.qa_id

),

qa as (

    select
        summaries.qa_id,
        summaries.cluster_id,
        summaries.language,
        summaries.question,
        summaries.answer,
        source_documents.sources,
        list_transform(source_documents.sources, lambda s: s.article_id) as source_article_ids,
        source_documents.n_sources,
        scores.similarity,
        scores.similarity_mean,
        scores.similarity_min,
        scores.similarity_max,
        scores.similarity_spread,
        scores.similarity_std,
        scores.hallucination_flag,
        scores.hallucination_reason,
        scores.model as similarity_model,
        summaries.prompt_id,
        summaries.prompt_version,
        summaries.provider,
        summaries.model,
        summaries.llm,
        summaries.recursion_depth,
        summaries.n_llm_calls,
        summaries.tokens_in,
        summaries.tokens_out,
        summaries.generated_at,

    from summaries
    inner join source_documents
        on source_documents.qa_id = summaries.qa_id
    inner join scores
        on scores.qa_id = summaries.qa_id
    -- a cluster whose membership changed has a new id: its old summary is not listed
    where source_documents.n_sources = len(summaries.source_article_ids)

)

select * from qa
