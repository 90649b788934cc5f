-- Judge scores per domain, language and dimension: how many pairs, how many the judge
-- scored or quarantined, the score distribution (whole points, halves rounded down), the
-- mean and median, and the share at or above SYNTHLAKE_JUDGE_MIN_SCORE.
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

judgements as (

    select * from {{ ref('int_qa_judgements_current') }}

),

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

configured_dimensions as (

    select * from {{ ref('int_judge_dimensions_configured') }}

),

pair_dimensions as (

    select pairs.qa_id, pairs.domain, pairs.language, configured_dimensions.dimension
    from pairs
    inner join configured_dimensions on pairs.domain = configured_dimensions.domain

),

outcomes as (

    select
        pair_dimensions.*,
        judgements.judge_status,
        judgements.score,
    from pair_dimensions
    left join judgements  -- current judgements only: qa_hash is the pair's
        on pair_dimensions.qa_id = judgements.qa_id
        and pair_dimensions.dimension = judgements.dimension

),

aggregated as (

    select
        domain,
        language,
        dimension,
        count(*) as n_pairs,
        count(*) filter (where judge_status = 'ok') as n_scored,
        count(*) filter (where judge_status = 'quarantined') as n_quarantined,
        count(*) filter (where judge_status is null) as n_not_judged,
        avg(score) as mean_score,
        median(score) as median_score,
        min(score) as min_score,
        max(score) as max_score,
        {% for point in range(6) %}
        count(*) filter (where floor(score) = {{ point }}) as n_score_{{ point }},
        {% endfor %}
        count(*) filter (where score >= (select judge_min_score from thresholds))
            as n_at_or_above_threshold,
    from outcomes
    group by domain, language, dimension

),

final as (

    select
        domain || ':' || language || ':' || dimension as quality_key,
        aggregated.*,
        n_at_or_above_threshold / nullif(n_scored, 0) as share_at_or_above_threshold,
        n_scored / nullif(n_pairs, 0) as share_scored,
        thresholds.judge_min_score as judge_threshold,
    from aggregated
    cross join thresholds

)

select * from final
