-- Every QA pair of either domain in one shape, the input of the judge and of toxicity.
-- Instructions: the kept (non-duplicate) examples as ingested, and their verified
-- translations (the latest verified attempt per row and language). A single exchange is
-- instruction/input/output; a multi-turn conversation is judged on its last answer, with
-- the turns before it as the question. News: the latest QA pair of each cluster in
-- news_qa (question = instruction + sources, answer = the integrated summary).
-- qa_hash changes whenever what the judge reads changes, so a changed pair is judged
-- again.
-- Which pairs exist (the kept originals, the current translation of each row and language,
-- the current summary of each cluster) is decided in int_qa_pair_inputs; this model writes
-- them. The instruction rows come from staging and the duplicate verdicts, not from
-- int_instructions_checked: a pair needs only is_kept, and the language check (minutes of
-- lingua at seed scale) would otherwise hold back the judge and toxicity, which then run
-- beside it. The language verdict filters the training export (exp_train__sft), not the
-- pairs.
--
-- Incremental: int_qa_pair_inputs lists the pairs that can exist now with a fingerprint of
-- their inputs (input_hash, with this file's code folded in). A build computes only the pairs
-- whose fingerprint is not stored (new or changed), replaces them by qa_id, and deletes every
-- stored pair whose fingerprint is no longer current (post-hook): what stays is what a full
-- build computes. Rebuilding all 720k pairs took 33 s of a daily refresh at seed scale, most
-- of it writing texts that had not changed. input_hash is bookkeeping: qa_pairs leaves it out.
{% set built_by = local_md5(model.raw_code) %}
{{
    config(
        materialized='incremental',
        unique_key='qa_id',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} as stored where not exists ("
            ~ "select 1 from {{ ref('int_qa_pair_inputs') }} as inputs "
            ~ "where inputs.qa_id = stored.qa_id "
            ~ "and hash(inputs.input_hash, '" ~ built_by ~ "') = stored.input_hash)",
        ],
    )
}}
with

inputs as (

    select
        qa_id,
        domain,
        source_row_id,
        translation_id,
        news_qa_id,
        hash(input_hash, '{{ built_by }}') as input_hash,
    from {{ ref('int_qa_pair_inputs') }}

),

todo as (

    select * from inputs
    {{ where_input_changed('inputs', 'qa_id') }}

),

instructions as (

    select *
    from {{ ref('stg_hf__instructions') }}
    -- the originals of the pairs to compute (and of their translations): the texts of the
    -- others are not read
    where id in (select source_row_id from todo)

),

translations as (

    -- the translations chosen in int_qa_pair_inputs (latest verified, original kept)
    select *
    from {{ ref('int_instructions_translated') }}
    where translation_id in (select translation_id from todo)

),

news_qa as (

    -- the summaries chosen there (the latest of each cluster)
    select *
    from {{ ref('news_qa') }}
    where qa_id in (select news_qa_id from todo)

),

kept_instructions as (

    select
        'ins:' || id as qa_id,
        cast(null as varchar) as parent_qa_id,
        id as source_row_id,
        source_dataset,
        language,
        language as source_language,
        false as is_translation,
        system,
        instruction,
        input,
        output,
        turns,
        is_multi_turn,
        cast(null as varchar) as translation_id,
        cast(null as varchar) as generator_llm,
        cast(null as varchar) as generator_prompt_version,
    from instructions
    -- the kept originals (int_qa_pair_inputs lists no other)
    where 'ins:' || id in (select qa_id from todo)

),

translated_instructions as (

    select
        'ins:' || translations.id || ':' || translations.target_language as qa_id,
        'ins:' || translations.id as parent_qa_id,
        translations.id as source_row_id,
        translations.source_dataset,
        translations.target_language as language,
        translations.source_language,
        true as is_translation,
        translations.system,
        translations.instruction,
        translations.input,
        translations.output,
        translations.turns,
        instructions.is_multi_turn,
        translations.translation_id,
        translations.llm as generator_llm,
        translations.prompt_version as generator_prompt_version,
    from translations
    inner join instructions on translations.id = instructions.id

),

all_instructions as (

    select * from kept_instructions
    union all
    select * from translated_instructions

),

instruction_dialogues as (

    select
        *,
        list_filter(turns, lambda t: t.role <> 'system') as dialogue,
    from all_instructions

),

instruction_pairs as (

    select
        qa_id,
        'instructions' as domain,
        case
            when not is_multi_turn then instruction
            else array_to_string(
                list_transform(
                    dialogue[1:len(dialogue) - 1],
                    lambda t: case t.role when 'user' then 'User: ' else 'Assistant: ' end
                        || t.content
                ),
                chr(10) || chr(10)
            )
        end as question,
        case when not is_multi_turn then input end as input,
        case when not is_multi_turn then output else dialogue[-1].content end as answer,
        system,
        language,
        source_language,
        is_translation,
        is_multi_turn,
        parent_qa_id,
        source_dataset,
        'hf' as source_table,
        [source_row_id] as source_record_ids,
        translation_id,
        generator_llm,
        generator_prompt_version,
        cast(null as varchar) as cluster_id,
        cast([] as struct(
            article_id varchar, outlet varchar, title varchar, url varchar, content varchar
        )[]) as sources,
        cast(null as double[]) as similarities,
        cast(null as double) as similarity_mean,
        cast(null as double) as similarity_min,
        cast(null as double) as similarity_std,
        cast(null as boolean) as hallucination_flag,
    from instruction_dialogues
    where (not is_multi_turn and output is not null)
        or (is_multi_turn and dialogue[-1].role = 'assistant')

),

news_pairs as (

    select
        'news:' || qa_id as qa_id,
        'news' as domain,
        question,
        cast(null as varchar) as input,
        answer,
        cast(null as varchar) as system,
        language,
        language as source_language,
        false as is_translation,
        false as is_multi_turn,
        cast(null as varchar) as parent_qa_id,
        cast(null as varchar) as source_dataset,
        'news' as source_table,
        list_transform(sources, lambda s: s.article_id) as source_record_ids,
        cast(null as varchar) as translation_id,
        llm as generator_llm,
        prompt_version as generator_prompt_version,
        cluster_id,
        list_transform(
            sources,
            lambda s: {
                'article_id': s.article_id,
                'outlet': s.outlet,
                'title': s.title,
                'url': s.link,
                'content': s.content,
            }
        ) as sources,
        similarity as similarities,
        similarity_mean,
        similarity_min,
        similarity_std,
        hallucination_flag,
    from news_qa

),

unioned as (

    select * from instruction_pairs
    union all by name
    select * from news_pairs

),

final as (

    select
        *,
        len(sources) as n_sources,
        md5(
            coalesce(question, '') || chr(31) || coalesce(input, '') || chr(31)
            || coalesce(answer, '') || chr(31) || coalesce(language, '') || chr(31)
            || coalesce(cast(to_json(sources) as varchar), '')
        ) as qa_hash,
    from unioned

)

select final.*, todo.input_hash,
from final
inner join todo on final.qa_id = todo.qa_id
