-- One MongoDB document per instruction QA pair (collection `instructions_qa`,
-- export/mongo.py): the kept examples and their verified translations, from qa_pairs, with
-- the judge's scores and toxicity. Every column is a document field. Multi-turn
-- conversations have no single question/answer and stay out (they are in the file and
-- training exports, whole).
{% set dimensions = judge_dimensions() %}
{% set labels = toxicity_labels() %}
with

pairs as (

    select * from {{ ref('qa_pairs') }}
    where domain = 'instructions'

),

single_exchange as (

    select *
    from pairs
    where not is_multi_turn
        and nullif(trim(question), '') is not null
        and nullif(trim(answer), '') is not null

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
    from single_exchange

)

select * from documents
