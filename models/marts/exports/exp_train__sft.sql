-- One row per QA pair of qa_pairs, in chat format (messages: the system turn if any, then
-- every user/assistant turn; a multi-turn conversation keeps all its turns), with the
-- training filter's decision and the seeded split. export/training.py writes the rows
-- whose exclude_reason is null to lake/exports/training/; excluded rows stay here with
-- their reason (nothing is removed, split is null for them).
--
-- Filter (settings training_*, via int_training_thresholds), first reason that applies:
--   malformed          no user turn, an empty turn, or not ending with the assistant
--   language_mismatch  an original instruction row not in its labelled language
--                      (training_require_language_match; verified translations passed
--                      their own language check)
--   hallucination      news pair with the hallucination flag (training_require_faithful)
--   toxic              a Detoxify score (answer, or question when scored) at or above
--                      training_max_toxicity; pairs Detoxify could not score are not
--                      guessed toxic (toxicity_status says so)
--   low_judge_score    a judged dimension under training_min_judge_score
--   unscored           the judge did not score every configured dimension (quarantined
--                      answer, not judged yet, no dimension configured) and
--                      training_unscored = 'exclude'
--
-- Split: a stable per-row hash bucket (macros/training_split.sql), not a rank within the
-- stratum. bucket = md5(seed:split_key) in [0, 1): eval below training_eval_fraction,
-- validation up to + training_validation_fraction, train above. Every (language, domain)
-- stratum draws from the same uniform bucket independently, so each stratum gets those
-- fractions in expectation (binomial noise on small strata); a rank within the stratum
-- would hit the fractions exactly but reshuffle old rows whenever new rows arrive, and a
-- pair that was held out could then move into train in the next export. With the bucket
-- a pair's split depends only on its key and the seed. split_key is the original pair's
-- id for translations (parent_qa_id): a translation lands in the same split as its
-- original, so the held-out eval set never has a translation of a training example.
--
-- Incremental: at 730k pairs rebuilding every row took 50 s of a daily refresh that
-- changes 1%. input_hash fingerprints everything a row is computed from (its qa_pairs row,
-- the instruction's turns and language check, the translation's turns, the thresholds,
-- and this file's code with the split macros), so a refresh recomputes only the pairs whose
-- inputs changed, and a changed setting or an edited model recomputes them all. DuckDB's
-- hash() is 64-bit, not a digest: what it guards is "is this the same input as last
-- time?" for one pair, where a collision (2^-64) would keep a stale row until the next
-- change; md5 over the same 730k rows took 4.6 s against 0.7 s. A pair gone from qa_pairs
-- is deleted (post-hook).
{% set dimensions = judge_dimensions() %}
{% set built_by = local_md5(
    model.raw_code
    ~ training_split_bucket('key', 'seed')
    ~ training_split('bucket', 'eval_fraction', 'validation_fraction')
) %}
{{
    config(
        materialized='incremental',
        unique_key='qa_id',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} where qa_id not in (select qa_id from {{ ref('qa_pairs') }})",
        ],
    )
}}
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

instructions as (

    select * from {{ ref('int_instructions_checked') }}

),

translations as (

    select * from {{ ref('int_instructions_translated') }}

),

thresholds as (

    select * from {{ ref('int_training_thresholds') }}

),

fingerprinted as (

    select
        pairs.*,
        instructions.turns as instruction_turns,
        instructions.language_mismatch,
        translations.turns as translation_turns,
        hash(
            pairs, instructions.turns, instructions.language_mismatch, translations.turns,
            thresholds, '{{ built_by }}'
        ) as input_hash,
    from pairs
    cross join thresholds
    left join instructions
        on pairs.domain = 'instructions'
        and not pairs.is_translation
        and pairs.source_record_ids[1] = instructions.id
    left join translations
        on pairs.is_translation
        and pairs.translation_id = translations.translation_id

),

todo as (

    select * from fingerprinted
    {{ where_input_changed('fingerprinted', 'qa_id') }}

),

with_turns as (

    select
        todo.* exclude (instruction_turns, language_mismatch, translation_turns),
        case
            when todo.domain = 'news' then [
                {'role': 'user', 'content': todo.question},
                {'role': 'assistant', 'content': todo.answer},
            ]
            when todo.is_translation then todo.translation_turns
            else todo.instruction_turns
        end as turns,
        case
            when todo.domain = 'instructions' and not todo.is_translation
                then coalesce(not todo.language_mismatch, true)
            else true
        end as language_ok,
    from todo

),

with_messages as (

    select
        *,
        -- an empty system prompt (common in SlimOrca) is no system turn
        list_filter(
            coalesce(turns, []),
            lambda t: not (t.role = 'system' and nullif(trim(t.content), '') is null)
        ) as messages,
    from with_turns

),

checked as (

    select
        *,
        len(messages) = 0
            or messages[-1].role is distinct from 'assistant'
            or not list_contains(list_transform(messages, lambda t: t.role), 'user')
            or list_bool_or(list_transform(
                messages,
                lambda t: t.role is null
                    or t.role not in ('system', 'user', 'assistant')
                    or nullif(trim(t.content), '') is null
            ))
            as is_malformed,
        case
            when toxicity_status = 'ok'
                then greatest(answer_toxicity_max, coalesce(question_toxicity_max, 0))
        end as toxicity_max,
    from with_messages

),

decided as (

    select
        checked.*,
        case
            when checked.is_malformed then 'malformed'
            when thresholds.require_language_match and not checked.language_ok
                then 'language_mismatch'
            when thresholds.require_faithful and coalesce(checked.hallucination_flag, false)
                then 'hallucination'
            when checked.toxicity_max >= thresholds.max_toxicity then 'toxic'
            when checked.judge_lowest_score < thresholds.min_judge_score
                then 'low_judge_score'
            when thresholds.unscored = 'exclude' and checked.judge_status <> 'scored'
                then 'unscored'
        end as exclude_reason,
        coalesce(checked.parent_qa_id, checked.qa_id) as split_key,
        {{ training_split_bucket('coalesce(checked.parent_qa_id, checked.qa_id)',
                                 'thresholds.seed') }} as split_bucket,
        thresholds.eval_fraction,
        thresholds.validation_fraction,
    from checked
    cross join thresholds

),

final as (

    select
        qa_id,
        domain,
        language,
        source_dataset,
        is_translation,
        is_multi_turn,
        cast(messages as struct(role varchar, content varchar)[]) as messages,
        len(messages) as n_messages,
        case
            when domain = 'news' then list_transform(
                sources, lambda s: {'title': s.title, 'content': s.content}
            )
            else []
        end as sources,
        case when domain = 'news' then generator_llm end as reference_model,
        judge_lowest_score as judge_score,
        judge_status,
        {% for dimension in dimensions %}
        {{ dimension }}_score,
        {% endfor %}
        n_dimensions_scored,
        n_dimensions_configured,
        judge_llm,
        judge_prompt_versions,
        toxicity_max,
        toxicity_status,
        toxicity_model,
        hallucination_flag,
        similarity_mean,
        similarity_min,
        language_ok,
        generator_llm,
        generator_prompt_version,
        quality_drop_reason,
        exclude_reason,
        exclude_reason is null as is_included,
        split_key,
        split_bucket,
        case
            when exclude_reason is null
                then {{ training_split('split_bucket', 'eval_fraction', 'validation_fraction') }}
        end as split,
        input_hash,
    from decided

)

select * from final
