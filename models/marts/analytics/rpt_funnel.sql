-- The whole funnel, raw to final QA pairs: for each domain and stage, the rows that came
-- in, the rows kept, the rows dropped by reason, and rows flagged but kept (e.g. the
-- judge could not score them). measure is rows_in, rows_kept, rows_dropped or
-- rows_flagged; reason is set for dropped and flagged rows. Ingest counts come from
-- rpt_ingest_funnel. Instructions: ingest, deduplicate, translate, qa_pairs, quality.
-- News: ingest, deduplicate, cluster (articles), summarize (clusters), quality (pairs).
with

ingest as (

    select * from {{ ref('rpt_ingest_funnel') }}

),

checked_instructions as (

    select * from {{ ref('int_instructions_checked') }}

),

translations as (

    select * from {{ ref('int_instructions_translated') }}

),

unioned as (

    select * from {{ ref('int_qa_pairs_unioned') }}

),

pairs as (

    select * from {{ ref('qa_pairs') }}

),

news_duplicates as (

    select * from {{ ref('int_news_article_duplicates') }}

),

news_assigned as (

    select * from {{ ref('int_news_clusters_assigned') }}

),

news_clusters as (

    select * from {{ ref('news_clusters') }}

),

ingest_totals as (

    select
        case domain when 'hf' then 'instructions' else domain end as domain,
        sum(n_rows) filter (where step = 'raw_versions') as raw_versions,
        coalesce(sum(n_rows) filter (where step = 'rejected'), 0) as rejected,
        sum(n_rows) filter (where step = 'staged') as staged,
    from ingest
    group by 1

),

ingest_stage as (

    select domain, 1 as stage_order, 'ingest' as stage, 'rows_in' as measure,
        null as reason, raw_versions + rejected as n_rows
    from ingest_totals
    union all
    select domain, 1, 'ingest', 'rows_kept', null, staged
    from ingest_totals
    union all
    select domain, 1, 'ingest', 'rows_dropped', 'superseded_version', raw_versions - staged
    from ingest_totals
    union all
    select
        case domain when 'hf' then 'instructions' else domain end,
        1, 'ingest', 'rows_dropped', reason, n_rows
    from ingest
    where step = 'rejected'

),

dedup_stage as (

    select 'instructions' as domain, 2 as stage_order, 'deduplicate' as stage,
        'rows_in' as measure, null as reason, count(*) as n_rows
    from checked_instructions
    union all
    select 'instructions', 2, 'deduplicate', 'rows_kept', null, count(*) filter (where is_kept)
    from checked_instructions
    union all
    select 'instructions', 2, 'deduplicate', 'rows_dropped', drop_reason, count(*)
    from checked_instructions
    where not is_kept
    group by drop_reason

),

latest_translations as (

    select *
    from translations
    qualify row_number() over (
        partition by id, target_language
        order by status = 'verified' desc, translated_at desc, translation_id
    ) = 1

),

translate_stage as (

    select 'instructions' as domain, 3 as stage_order, 'translate' as stage,
        'rows_in' as measure, null as reason, count(*) as n_rows
    from latest_translations
    union all
    select 'instructions', 3, 'translate', 'rows_kept', null,
        count(*) filter (where status = 'verified')
    from latest_translations
    union all
    select 'instructions', 3, 'translate', 'rows_dropped',
        status || ':' || coalesce(reasons[1], 'unknown'), count(*)
    from latest_translations
    where status <> 'verified'
    group by 5

),

pair_stage as (

    -- kept originals + verified translations become QA pairs (multi-turn rows whose last
    -- turn is not an answer cannot)
    select 'instructions' as domain, 4 as stage_order, 'qa_pairs' as stage,
        'rows_in' as measure, null as reason,
        (select count(*) from checked_instructions where is_kept)
        + (select count(*) from latest_translations where status = 'verified') as n_rows
    union all
    select domain, 4, 'qa_pairs', 'rows_kept', null, count(*)
    from unioned
    where domain = 'instructions'
    group by domain

),

news_dedup_stage as (

    select 'news' as domain, 2 as stage_order, 'deduplicate' as stage,
        'rows_in' as measure, null as reason, count(*) as n_rows
    from news_duplicates
    union all
    select 'news', 2, 'deduplicate', 'rows_kept', null, count(*) filter (where is_canonical)
    from news_duplicates
    union all
    select 'news', 2, 'deduplicate', 'rows_dropped', duplicate_reason, count(*)
    from news_duplicates
    where not is_canonical
    group by duplicate_reason

),

news_cluster_stage as (

    -- articles alone in their story get no QA pair
    select 'news' as domain, 3 as stage_order, 'cluster' as stage,
        'rows_in' as measure, null as reason, count(*) as n_rows
    from news_assigned
    union all
    select 'news', 3, 'cluster', 'rows_kept', null, count(*) filter (where cluster_size >= 2)
    from news_assigned
    union all
    select 'news', 3, 'cluster', 'rows_dropped', 'single_article_story',
        count(*) filter (where cluster_size < 2)
    from news_assigned

),

news_summarize_stage as (

    -- rows are clusters from here on: one summary (QA pair) per multi-article cluster
    select 'news' as domain, 4 as stage_order, 'summarize' as stage,
        'rows_in' as measure, null as reason, count(*) as n_rows
    from news_clusters
    where is_multi_article
    union all
    select 'news', 4, 'summarize', 'rows_kept', null, count(distinct pairs.cluster_id)
    from pairs
    where domain = 'news'
    union all
    select 'news', 4, 'summarize', 'rows_dropped', 'no_valid_summary', count(*)
    from news_clusters
    where is_multi_article
        and cluster_id not in (
            select cluster_id from pairs where domain = 'news' and cluster_id is not null
        )

),

quality_stage as (

    select domain, 5 as stage_order, 'quality' as stage, 'rows_in' as measure,
        null as reason, count(*) as n_rows
    from pairs
    group by domain
    union all
    select domain, 5, 'quality', 'rows_kept', null, count(*) filter (where is_kept)
    from pairs
    group by domain
    union all
    select domain, 5, 'quality', 'rows_dropped', quality_drop_reason, count(*)
    from pairs
    where not is_kept
    group by domain, quality_drop_reason
    union all
    select domain, 5, 'quality', 'rows_flagged', 'judge_' || judge_status, count(*)
    from pairs
    where judge_status in ('partial', 'quarantined', 'not_judged')
    group by domain, judge_status
    union all
    select domain, 5, 'quality', 'rows_flagged', 'toxicity_' || toxicity_status, count(*)
    from pairs
    where toxicity_status <> 'ok'
    group by domain, toxicity_status

),

unioned_stages as (

    select * from ingest_stage
    union all
    select * from dedup_stage
    union all
    select * from translate_stage
    union all
    select * from pair_stage
    union all
    select * from news_dedup_stage
    union all
    select * from news_cluster_stage
    union all
    select * from news_summarize_stage
    union all
    select * from quality_stage

),

final as (

    select
        domain || ':' || stage || ':' || measure || coalesce(':' || reason, '') as funnel_key,
        domain,
        stage_order,
        stage,
        measure,
        reason,
        coalesce(n_rows, 0) as n_rows,
    from unioned_stages

)

select * from final
