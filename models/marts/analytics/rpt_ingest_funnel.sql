-- How many rows each domain had at each step of ingest, why rows were dropped, and which
-- kept rows are flagged.
with

raw_news as (

    select * from {{ source('news', 'raw_articles') }}

),

raw_hf as (

    select * from {{ source('hf', 'raw_instructions') }}

),

articles as (

    select * from {{ ref('stg_news__articles') }}

),

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

rejects as (

    select * from {{ ref('stg_ingest__rejects') }}

),

counts as (

    select 'news' as domain, 'raw_versions' as step, 1 as step_order, null as reason, count(*) as n_rows from raw_news
    union all
    select 'news', 'staged', 3, null, count(*) from articles
    union all
    select 'hf', 'raw_versions', 1, null, count(*) from raw_hf
    union all
    select 'hf', 'staged', 3, null, count(*) from instructions
    union all
    select domain, 'rejected', 2, reason, count(*) from rejects group by domain, reason
    union all
    -- Rows kept but flagged (a date that could not be parsed...): reason is the flag.
    select 'news', 'flagged', 4, flag, count(*)
    from (select unnest(flags) as flag from articles)
    group by flag

),

final as (

    select
        domain || ':' || step || coalesce(':' || reason, '') as funnel_key,
        domain,
        step,
        step_order,
        reason,
        n_rows,
    from counts

)

select * from final
