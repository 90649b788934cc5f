-- How judge scores are distributed: one row per domain, dimension and score value
-- (0, 0.5, ..., 5; every value listed, zero counts included), with its share of the
-- scored pairs and the share at or above it (what a threshold there would keep).
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

judgements as (

    select * from {{ ref('int_qa_judgements') }}

),

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

configured_dimensions as (

    select 'instructions' as domain, unnest(judge_dimensions_instructions) as dimension
    from thresholds
    union all
    select 'news', unnest(judge_dimensions_news)
    from thresholds

),

score_values as (

    select half_points / 2.0 as score
    from range(0, 11) as points(half_points)

),

scored as (

    select judgements.domain, judgements.dimension, judgements.score
    from judgements
    inner join pairs
        on judgements.qa_id = pairs.qa_id
        and judgements.qa_hash = pairs.qa_hash
    where judgements.judge_status = 'ok'

),

grid as (

    select configured_dimensions.domain, configured_dimensions.dimension, score_values.score
    from configured_dimensions
    cross join score_values

),

counted as (

    select
        grid.domain,
        grid.dimension,
        grid.score,
        count(scored.score) as n_pairs,
    from grid
    left join scored
        on grid.domain = scored.domain
        and grid.dimension = scored.dimension
        and grid.score = scored.score
    group by grid.domain, grid.dimension, grid.score

),

final as (

    select
        domain || ':' || dimension || ':' || cast(score as varchar) as distribution_key,
        domain,
        dimension,
        score,
        n_pairs,
        n_pairs / nullif(sum(n_pairs) over per_dimension, 0) as share,
        sum(n_pairs) over (per_dimension order by score desc)
            / nullif(sum(n_pairs) over per_dimension, 0) as share_at_or_above,
    from counted
    window per_dimension as (partition by domain, dimension)

)

select * from final
