-- Both instruction shapes in one schema. SlimOrca turns are mapped by their role (`from`),
-- never by position: a conversation may lack the system turn or hold several exchanges.
-- instruction/output are derived only for single-exchange rows; `turns` always keeps the
-- whole conversation (system/user/assistant).
--
-- A table, incremental (unlike the other staging models, views): at 760k rows every
-- reader of a view re-read the raw Parquet with its texts (normalization, language check,
-- the checks' join, the export, the tests: 3-4 minutes of each build); a refresh now
-- reads only the raw rows ingested since the last build (ingest stamps every row it
-- writes with the time it wrote it; rows are never rewritten) and deletes the rows
-- whose raw file is gone. `dbt build --full-refresh` reads everything again.
{{
    config(
        materialized='incremental',
        unique_key='id',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} where id not in "
            ~ "(select record_id from {{ source('hf', 'raw_instructions') }})",
        ],
    )
}}
with

source as (

    select * from {{ source('hf', 'raw_instructions') }}
    {% if is_incremental() %}
    -- >=: rows stamped in the same instant as the last stored one are read again (and
    -- replaced by their unique key), never skipped
    where ingested_at >= (select coalesce(max(ingested_at), '-infinity') from {{ this }})
    {% endif %}

),

latest as (

    select *
    from source
    qualify row_number() over (partition by record_id order by ingested_at desc) = 1

),

sharegpt as (

    select
        *,
        list_transform(
            conversations,
            lambda t: {
                'role': case t."from"
                    when 'system' then 'system'
                    when 'human' then 'user'
                    when 'gpt' then 'assistant'
                end,
                'content': t.value,
            }
        ) as mapped_turns,
    from latest
    where shape = 'sharegpt'

),

sharegpt_fields as (

    select
        *,
        list_filter(mapped_turns, lambda t: t.role = 'system') as system_turns,
        list_filter(mapped_turns, lambda t: t.role = 'user') as user_turns,
        list_filter(mapped_turns, lambda t: t.role = 'assistant') as assistant_turns,
    from sharegpt

),

from_sharegpt as (

    select
        record_id,
        source_dataset,
        source_revision,
        row_index,
        shape,
        system_turns[1].content as system,
        case when len(user_turns) = 1 then user_turns[1].content end as instruction,
        cast(null as varchar) as input,
        case when len(user_turns) = 1 then assistant_turns[1].content end as output,
        language,
        mapped_turns as turns,
        len(user_turns) as n_exchanges,
        content_hash,
        ingested_at,
        run_id,
    from sharegpt_fields

),

from_alpaca as (

    select
        record_id,
        source_dataset,
        source_revision,
        row_index,
        shape,
        cast(null as varchar) as system,
        instruction,
        nullif(trim(input), '') as input,
        output,
        language,
        [
            {'role': 'user', 'content': case
                when nullif(trim(input), '') is null then instruction
                else instruction || chr(10) || chr(10) || input
            end},
            {'role': 'assistant', 'content': output},
        ] as turns,
        1 as n_exchanges,
        content_hash,
        ingested_at,
        run_id,
    from latest
    where shape = 'alpaca'

),

unioned as (

    select * from from_sharegpt
    union all by name
    select * from from_alpaca

),

final as (

    select
        record_id as id,
        source_dataset,
        source_revision,
        row_index,
        shape,
        system,
        instruction,
        input,
        output,
        language,
        turns,
        n_exchanges,
        n_exchanges > 1 as is_multi_turn,
        content_hash,
        ingested_at,
        run_id,
    from unioned

)

select * from final
