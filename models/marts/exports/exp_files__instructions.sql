-- A view: the rows are stg_hf__instructions' (a table), copied once more only by the
-- export that writes them to lake/exports/instructions.parquet.
{{ config(materialized='view') }}
-- The unified instruction examples as a file people can load anywhere (lake/exports/).
with

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

final as (

    select
        id,
        source_dataset,
        source_revision,
        row_index,
        system,
        instruction,
        input,
        output,
        language,
        turns,
        is_multi_turn,
        content_hash,
    from instructions

)

select * from final
