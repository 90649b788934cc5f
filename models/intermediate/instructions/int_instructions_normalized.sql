-- The text each instruction example is compared on, normalized, with its hash and the
-- order in which duplicates are resolved (the first of a group is kept).
-- The compared text is every user and assistant turn (OpenHermes' `input` is inside the
-- user turn); system prompts are left out: SlimOrca repeats a few dozen of them, and two
-- rows that differ only in the system prompt teach the same thing.
with

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

compared_text as (

    select
        id,
        source_dataset,
        row_index,
        ingested_at,
        array_to_string(
            list_transform(
                list_filter(turns, lambda t: t.role <> 'system'),
                lambda t: t.content
            ),
            chr(10)
        ) as compared_text,
    from instructions

),

normalized as (

    select
        *,
        trim(regexp_replace(lower(nfc_normalize(compared_text)), '\s+', ' ', 'g'))
            as normalized_text,
    from compared_text

),

final as (

    select
        id,
        source_dataset,
        row_index,
        normalized_text,
        sha256(normalized_text) as text_hash,
        row_number() over (
            order by ingested_at, source_dataset, row_index, id
        ) as keep_rank,
    from normalized

)

select * from final
