-- Every instruction example with the verdicts of the checks before translation: duplicate
-- marking (int_instructions_deduplicated) and language ID (int_instructions_language_checked).
-- Rows are flagged here, never removed; is_translation_source picks what gets translated:
-- kept (not a duplicate) and written in the language of its label.
with

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

deduplicated as (

    select * from {{ ref('int_instructions_deduplicated') }}

),

language_checked as (

    select * from {{ ref('int_instructions_language_checked') }}

),

joined as (

    select
        instructions.id,
        instructions.source_dataset,
        instructions.source_revision,
        instructions.row_index,
        instructions.shape,
        instructions.system,
        instructions.instruction,
        instructions.input,
        instructions.output,
        instructions.language,
        instructions.turns,
        instructions.n_exchanges,
        instructions.is_multi_turn,
        deduplicated.text_hash,
        deduplicated.is_kept,
        deduplicated.drop_reason,
        deduplicated.duplicate_of,
        deduplicated.similarity as duplicate_similarity,
        language_checked.detected_language,
        language_checked.language_confidence,
        language_checked.turn_languages,
        language_checked.mismatched_roles,
        language_checked.language_mismatch,
    from instructions
    inner join deduplicated on instructions.id = deduplicated.id
    inner join language_checked on instructions.id = language_checked.id

),

final as (

    select
        *,
        is_kept and not language_mismatch as is_translation_source,
    from joined

)

select * from final
