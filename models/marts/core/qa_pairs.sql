-- One row per final QA pair of either domain, with every quality signal and the lineage
-- back to the raw rows. Nothing is removed here: quality_drop_reason says why a pair
-- should stay out of a training set (hallucination flag, toxicity, a judge score under
-- SYNTHLAKE_JUDGE_MIN_SCORE); pairs the judge could not score (quarantined answers) or
-- Detoxify could not score (no weights) are kept and marked, not guessed.
{% set dimensions = judge_dimensions() %}
{% set labels = toxicity_labels() %}
with

pairs as (

    -- input_hash: the intermediate model's bookkeeping (what a pair was computed from)
    select * exclude (input_hash) from {{ ref('int_qa_pairs_unioned') }}

),

judgements as (

    select * from {{ ref('int_qa_judgements_current') }}

),

toxicity as (

    select * from {{ ref('int_qa_toxicity') }}

),

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

configured_judgements as (

    -- only the dimensions configured now (rows of dimensions since switched off stay in
    -- int_qa_judgements but do not count)
    select judgements.*
    from judgements
    cross join thresholds
    where list_contains(
        case judgements.domain
            when 'news' then thresholds.judge_dimensions_news
            else thresholds.judge_dimensions_instructions
        end,
        judgements.dimension
    )

),

judged as (

    select
        qa_id,
        {% for dimension in dimensions %}
        max(score) filter (where dimension = '{{ dimension }}') as {{ dimension }}_score,
        max(explanation) filter (where dimension = '{{ dimension }}')
            as {{ dimension }}_explanation,
        {% endfor %}
        count(*) filter (where judge_status = 'ok') as n_dimensions_scored,
        count(*) filter (where judge_status = 'quarantined') as n_dimensions_quarantined,
        min(score) as judge_lowest_score,
        any_value(judge_llm) as judge_llm,
        string_agg(distinct prompt_id || '@' || prompt_version, ',') as judge_prompt_versions,
    from configured_judgements
    group by qa_id

),

answer_toxicity as (

    select * from toxicity where field = 'answer'

),

question_toxicity as (

    select * from toxicity where field = 'question'

),

joined as (

    select
        pairs.*,
        {% for dimension in dimensions %}
        judged.{{ dimension }}_score,
        judged.{{ dimension }}_explanation,
        {% endfor %}
        coalesce(judged.n_dimensions_scored, 0) as n_dimensions_scored,
        coalesce(judged.n_dimensions_quarantined, 0) as n_dimensions_quarantined,
        len(
            case pairs.domain
                when 'news' then thresholds.judge_dimensions_news
                else thresholds.judge_dimensions_instructions
            end
        ) as n_dimensions_configured,
        judged.judge_lowest_score,
        judged.judge_llm,
        judged.judge_prompt_versions,
        {% for label in labels %}
        answer_toxicity.{{ label }},
        {% endfor %}
        answer_toxicity.max_score as answer_toxicity_max,
        question_toxicity.max_score as question_toxicity_max,
        coalesce(answer_toxicity.toxicity_status, 'not_scored') as toxicity_status,
        answer_toxicity.toxicity_model,
        thresholds.judge_min_score as judge_threshold,
        thresholds.toxicity_max_score as toxicity_threshold,
    from pairs
    cross join thresholds
    left join judged on pairs.qa_id = judged.qa_id
    -- a score counts only for the text it was computed on (text_hash: sha256, 16 hex)
    left join answer_toxicity
        on pairs.qa_id = answer_toxicity.qa_id
        and answer_toxicity.text_hash = left(sha256(pairs.answer), 16)
    left join question_toxicity
        on pairs.qa_id = question_toxicity.qa_id
        and question_toxicity.text_hash = left(sha256(pairs.question), 16)

),

flagged as (

    select
        *,
        case
            when n_dimensions_configured = 0 then 'not_configured'
            when n_dimensions_scored = n_dimensions_configured then 'scored'
            when n_dimensions_scored > 0 then 'partial'
            when n_dimensions_quarantined > 0 then 'quarantined'
            else 'not_judged'
        end as judge_status,
        case
            when judge_lowest_score < judge_threshold then false
            when n_dimensions_configured > 0
                and n_dimensions_scored = n_dimensions_configured then true
        end as passes_judge,
        case
            when toxicity_status = 'ok'
                then greatest(answer_toxicity_max, coalesce(question_toxicity_max, 0))
                    >= toxicity_threshold
        end as is_toxic,
    from joined

),

final as (

    select
        *,
        case
            when hallucination_flag then 'hallucination'
            when is_toxic then 'toxic'
            when passes_judge = false then 'low_judge_score'
        end as quality_drop_reason,
    from flagged

)

select
    * exclude (quality_drop_reason),
    quality_drop_reason,
    quality_drop_reason is null as is_kept,
from final
