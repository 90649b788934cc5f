-- The worst judged pairs, with the judge's explanation: per domain and dimension, the
-- lowest-scored pairs under SYNTHLAKE_JUDGE_MIN_SCORE (at most
-- var('worst_examples_per_dimension', 10); ties broken by qa_id). Read these to see what
-- the judge rejects and whether it is right to.
-- A report of the QA pairs: built after qa_pairs, so that `--select qa_pairs+` (or
-- @qa_pairs) rebuilds it with them, as when it joined qa_pairs itself.
-- depends_on: {{ ref('qa_pairs') }}
with

judgements as (

    select * from {{ ref('int_qa_judgements_current') }}

),

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

scored as (

    select
        judgement_id,
        qa_id,
        domain,
        dimension,
        score,
        explanation,
        judge_llm,
        prompt_version,
        language,
        question,
        input,
        answer,
    from judgements
    where judge_status = 'ok'
        and judgements.score < (select judge_min_score from thresholds)

),

ranked as (

    select
        *,
        row_number() over (
            partition by domain, dimension order by score, qa_id
        ) as worst_rank,
    from scored

),

final as (

    select *
    from ranked
    where worst_rank <= {{ var('worst_examples_per_dimension', 10) }}

)

select * from final
