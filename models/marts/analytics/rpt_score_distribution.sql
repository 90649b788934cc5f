-- How judge scores are distributed: one row per domain, dimension and score value
-- (0, 0.5, ..., 5; every value listed, zero counts included), with its share of the
-- scored pairs and the share at or above it (what a threshold there would keep).
-- A report of the QA pairs: built after qa_pairs, so that `--select qa_pairs+` (or
-- @qa_pairs) rebuilds it with them, as when it joined qa_pairs itself.
-- depends_on: {{ ref('qa_pairs') }}
with

judgements as (

    select * from {{ ref('int_qa_judgements_current') }}

),

configured_dimensions as (

    select * from {{ ref('int_judge_dimensions_configured') }}

),

score_values as (

    select half_points / 2.0 as score
    from range(0, 11) as points(half_points)

),

scored as (

    select domain, dimension, score
    from judgements
    where judge_status = 'ok'

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
