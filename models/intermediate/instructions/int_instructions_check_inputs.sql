-- What each row of int_instructions_checked is computed from: one row per staged instruction
-- example that both checks have a verdict for, with input_hash, a fingerprint of its staged
-- row (id, content hash and ingest time: a staged row changes only when a newer ingest
-- replaces it, so its texts need not be read) and of both verdict rows, whole.
-- int_instructions_checked computes the rows whose fingerprint it has not stored and deletes
-- the rows no longer listed here with the fingerprint it stored. A view: reading it costs a
-- scan of narrow columns.
{{ config(materialized='view') }}
with

staged as (

    select id, content_hash, ingested_at from {{ ref('stg_hf__instructions') }}

),

deduplicated as (

    select * from {{ ref('int_instructions_deduplicated') }}

),

language_checked as (

    select * from {{ ref('int_instructions_language_checked') }}

),

inputs as (

    select
        staged.id,
        hash(staged, deduplicated, language_checked) as input_hash,
    from staged
    inner join deduplicated on staged.id = deduplicated.id
    inner join language_checked on staged.id = language_checked.id

)

select * from inputs
