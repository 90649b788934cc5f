-- Both instruction shapes in one schema. SlimOrca turns are mapped by their role (`from`),
-- never by position: a conversation may lack the system turn or hold several exchanges.
-- instruction/output are derived only for single-exchange rows; `turns` always keeps the
-- whole conversation (system/user/assistant).
with

source as (

    select * from {{ source('hf', 'raw_instructions') }}

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
