-- Detoxify's scores per domain, scored text (answer / question) and label: how many
-- texts were scored or left unavailable, mean, median, 95th percentile and maximum, the
-- count at or above SYNTHLAKE_TOXICITY_MAX_SCORE, and counts in fixed bands (scores
-- pile up near 0, so the bands are logarithmic). label 'max_score' is the highest of a
-- text's 7 scores, the one the toxic flag uses.
{% set labels = toxicity_labels() + ['max_score'] %}
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

toxicity as (

    select * from {{ ref('int_qa_toxicity') }}

),

thresholds as (

    select * from {{ ref('int_quality_thresholds') }}

),

current_texts as (

    -- each pair's texts as they are now, as their hashes: joined on the texts themselves,
    -- the join held every answer and question (1 GB at 723k pairs, the first build's peak)
    select
        qa_id,
        domain,
        left(sha256(answer), 16) as answer_hash,
        left(sha256(question), 16) as question_hash,
    from pairs

),

current_rows as (

    -- only scores of the texts as they are now
    select current_texts.domain, toxicity.*
    from toxicity
    inner join current_texts
        on toxicity.qa_id = current_texts.qa_id
        and toxicity.text_hash = case toxicity.field
            when 'answer' then current_texts.answer_hash
            else current_texts.question_hash
        end

),

long as (

    {% for label in labels %}
    select
        domain,
        field,
        '{{ label }}' as label,
        toxicity_status,
        {{ label }} as score,
    from current_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

aggregated as (

    select
        domain,
        field,
        label,
        count(*) as n_texts,
        count(score) as n_scored,
        count(*) filter (where toxicity_status = 'unavailable') as n_unavailable,
        avg(score) as mean_score,
        median(score) as median_score,
        quantile_cont(score, 0.95) as p95_score,
        max(score) as max_score,
        count(*) filter (where score >= (select toxicity_max_score from thresholds))
            as n_at_or_above_threshold,
        count(*) filter (where score < 0.001) as n_below_0_001,
        count(*) filter (where score >= 0.001 and score < 0.01) as n_0_001_to_0_01,
        count(*) filter (where score >= 0.01 and score < 0.1) as n_0_01_to_0_1,
        count(*) filter (where score >= 0.1 and score < 0.5) as n_0_1_to_0_5,
        count(*) filter (where score >= 0.5) as n_0_5_and_above,
    from long
    group by domain, field, label

),

final as (

    select
        domain || ':' || field || ':' || label as toxicity_key,
        aggregated.*,
        n_at_or_above_threshold / nullif(n_scored, 0) as share_at_or_above_threshold,
        thresholds.toxicity_max_score as toxicity_threshold,
    from aggregated
    cross join thresholds

)

select * from final
