-- The text each instruction example is compared on, normalized, with its hash and the
-- order in which duplicates are resolved (the first of a group is kept).
-- The compared text is every user and assistant turn (OpenHermes' `input` is inside the
-- user turn); system prompts are left out: SlimOrca repeats a few dozen of them, and two
-- rows that differ only in the system prompt teach the same thing.
--
-- Incremental: a daily refresh normalizes only the rows that are new or changed since
-- they were normalized (same id, content hash, ingest time and NORMALIZED_BY); at 760k
-- rows normalizing everything again costs a minute for 1% of changed rows. A row that
-- left staging is deleted (post-hook), so it can no longer be anyone's "first".
-- keep_rank is an order, not a count: new rows are ranked after every stored row
-- (they were ingested last: `earliest ingest first`, as a full build ranks them), so the
-- stored ranks stay as they are and duplicate verdicts are those of a full build.
{% set normalized_by = 'turns-nfc-lower-ws-v1' %}  {# bump when the normalization changes #}
{# a table from before this model was incremental has no record of what it was made of #}
{% set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{% set resumable = 'normalized_by' in stored %}
{{
    config(
        materialized='incremental',
        unique_key='id',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} where id not in "
            ~ "(select id from {{ ref('stg_hf__instructions') }})",
        ],
    )
}}
with

instructions as (

    select * from {{ ref('stg_hf__instructions') }}

),

todo as (

    select * from instructions
    {% if resumable %}
    where not exists (
        select 1
        from {{ this }} as done
        where done.id = instructions.id
            and done.content_hash = instructions.content_hash
            and done.ingested_at = instructions.ingested_at
            and done.normalized_by = '{{ normalized_by }}'
    )
    {% endif %}

),

compared_text as (

    select
        id,
        source_dataset,
        row_index,
        content_hash,
        ingested_at,
        array_to_string(
            list_transform(
                list_filter(turns, lambda t: t.role <> 'system'),
                lambda t: t.content
            ),
            chr(10)
        ) as compared_text,
    from todo

),

normalized as (

    select
        *,
        trim(regexp_replace(lower(nfc_normalize(compared_text)), '\s+', ' ', 'g'))
            as normalized_text,
    from compared_text

),

ranked_after as (

    {% if is_incremental() %}
    select coalesce(max(keep_rank), 0) as last_rank from {{ this }}
    {% else %}
    select 0 as last_rank
    {% endif %}

),

final as (

    select
        id,
        source_dataset,
        row_index,
        content_hash,
        ingested_at,
        normalized_text,
        sha256(normalized_text) as text_hash,
        ranked_after.last_rank + row_number() over (
            order by ingested_at, source_dataset, row_index, id
        ) as keep_rank,
        '{{ normalized_by }}' as normalized_by,
    from normalized
    cross join ranked_after

)

select * from final
