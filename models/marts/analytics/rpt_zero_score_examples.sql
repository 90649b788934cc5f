-- The worst judged pairs, with the judge's explanation: per domain and dimension, the
-- lowest-scored pairs under SYNTHLAKE_JUDGE_MIN_SCORE (at most
-- var('worst_examples_per_dimension', 10); ties broken by qa_id). Read these to see what
-- the judge rejects and whether it is right to.
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

scored as (

    select
        judgements.judgement_id,
        judgements.qa_id,
        judgements.domain,
        judgements.dimension,
        judgements.score,
        judgements.explanation,
        judgements.judge_llm,
        judgements.prompt_version,
        pairs.language,
        pairs.question,
        pairs.input,
        pairs.answer,
    from judgements
    inner join pairs
        on judgements.qa_id = pairs.qa_id
        and judgements.qa_hash = pairs.qa_hash
    where judgements.judge_status = 'ok'
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
