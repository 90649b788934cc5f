-- One row per domain and judge dimension configured for this build
-- (SYNTHLAKE_JUDGE_DIMENSIONS_INSTRUCTIONS / _NEWS, via int_quality_thresholds).
with

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

configured as (

    select 'instructions' as domain, unnest(judge_dimensions_instructions) as dimension
    from thresholds
    union all
    select 'news', unnest(judge_dimensions_news)
    from thresholds

)

select * from configured
