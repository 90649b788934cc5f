-- One MongoDB document per instruction QA pair (collection `instructions_qa`,
-- export/mongo.py). Every column is a document field: judge and toxicity columns added here
-- later reach MongoDB with no code change. Multi-turn conversations have no single
-- question/answer and stay out (they are in the file export, whole).
with

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

single_exchange as (

    select *
    from instructions
    where not is_multi_turn
        and nullif(trim(instruction), '') is not null
        and nullif(trim(output), '') is not null

),

pairs as (

    select
        case
            when input is null then instruction
            else instruction || chr(10) || chr(10) || input
        end as question,
        output as answer,
        system,
        language,
        source_dataset,
        source_revision,
        row_index as source_row_index,
        [id] as lineage_ids,
    from single_exchange

),

documents as (

    select
        -- _id from lineage and language: a translation of the same example is another pair
        left(
            sha256(concat_ws(
                chr(31), 'instructions_qa', array_to_string(list_sort(lineage_ids), chr(31)),
                language
            )), 32
        ) as doc_id,
        *,
    from pairs

)

select * from documents
