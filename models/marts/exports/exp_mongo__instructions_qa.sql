-- One MongoDB document per instruction QA pair (collection `instructions_qa`,
-- export/mongo.py): the kept examples and their verified translations, from qa_pairs, with
-- the judge's scores and toxicity. Every column is a document field. Multi-turn
-- conversations have no single question/answer and stay out (they are in the file and
-- training exports, whole).
--
-- Incremental, as exp_train__sft and for the same reason (45 s of a daily refresh at 650k
-- documents): input_hash fingerprints the pair's qa_pairs row and this file's code, and a
-- refresh recomputes only the pairs whose fingerprint changed. A pair that left qa_pairs,
-- or no longer is a single exchange, is deleted (post-hook). input_hash is the mart's own
-- bookkeeping: export/mongo.py does not write it into the documents.
{% set dimensions = judge_dimensions() %}
{% set labels = toxicity_labels() %}
{% set built_by = local_md5(model.raw_code ~ dimensions | join(',') ~ labels | join(',')) %}
{% set is_single_exchange -%}
    domain = 'instructions'
    and not is_multi_turn
    and nullif(trim(question), '') is not null
    and nullif(trim(answer), '') is not null
{%- endset %}
{{
    config(
        materialized='incremental',
        unique_key='doc_id',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} where qa_id not in "
            ~ "(select qa_id from {{ ref('qa_pairs') }} where " ~ is_single_exchange ~ ")",
        ],
    )
}}
with

single_exchange as (

    select pairs.*, hash(pairs, '{{ built_by }}') as input_hash,
    from {{ ref('qa_pairs') }} as pairs
    where {{ is_single_exchange }}

),

todo as (

    select * from single_exchange
    {{ where_input_changed('single_exchange', 'qa_id') }}

),

documents as (

    select
        -- _id from lineage and language: a translation of the same example is another pair
        left(
            sha256(concat_ws(
                chr(31), 'instructions_qa', array_to_string(list_sort(source_record_ids), chr(31)),
                language
            )), 32
        ) as doc_id,
        case
            when input is null then question
            else question || chr(10) || chr(10) || input
        end as question,
        answer,
        system,
        language,
        source_language,
        is_translation,
        source_dataset,
        list_sort(source_record_ids) as lineage_ids,
        qa_id,
        {% for label in labels %}
        {{ label }},
        {% endfor %}
        toxicity_status,
        list_filter(
            [
                {% for dimension in dimensions %}
                {
                    'dimension': '{{ dimension }}',
                    'score': {{ dimension }}_score,
                    'explanation': {{ dimension }}_explanation,
                },
                {% endfor %}
            ],
            lambda j: j.score is not null
        ) as judge,
        judge_llm as judge_model,
        judge_prompt_versions as judge_prompt_version,
        generator_llm as translation_model,
        generator_prompt_version as translation_prompt_version,
        quality_drop_reason,
        input_hash,
    from todo

)

select * from documents
