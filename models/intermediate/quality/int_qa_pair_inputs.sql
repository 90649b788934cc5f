-- Which QA pairs can exist now, and what each is made from: one row per candidate pair of
-- int_qa_pairs_unioned, with input_hash, a fingerprint of everything the pair is computed
-- from. The choices are made here, once: which originals are kept, which translation of a
-- row and language is current (translation_id), which summary of a cluster (news_qa_id). int_qa_pairs_unioned recomputes only the pairs whose fingerprint it has not stored,
-- and deletes the pairs no longer listed here.
--
-- An original example is fingerprinted by its staged row's id, content hash and ingest time,
-- never by its texts: a staged row changes only when a newer ingest replaces it, and not
-- reading 720k rows of text is the point (a daily refresh rebuilt the whole pairs table,
-- 33 s of it at seed scale, for 1% of new rows). Translations (bounded by the LLM caps) and
-- news pairs (one per story) are few, and fingerprinted whole. A kept example with no answer
-- is a candidate but no pair: it is looked at again on every build (few are).
-- A view: reading it costs a scan of a few narrow columns.
{{ config(materialized='view') }}
with

staged_instructions as (

    select
        id,
        content_hash,
        ingested_at,
        source_dataset,
        language,
        is_multi_turn,
    from {{ ref('stg_hf__instructions') }}

),

deduplicated as (

    select id, is_kept from {{ ref('int_instructions_deduplicated') }}

),

kept_instructions as (

    select staged_instructions.*
    from staged_instructions
    inner join deduplicated on staged_instructions.id = deduplicated.id
    where deduplicated.is_kept

),

latest_translations as (

    -- the latest verified attempt per row and language (int_qa_pairs_unioned takes the
    -- translation_id chosen here)
    select *
    from {{ ref('int_instructions_translated') }}
    where status = 'verified'
    qualify row_number() over (
        partition by id, target_language order by translated_at desc, translation_id
    ) = 1

),

latest_news as (

    -- one pair per cluster: the latest summary (another prompt version or LLM may have
    -- summarized the same cluster before)
    select *
    from {{ ref('news_qa') }}
    qualify row_number() over (
        partition by cluster_id order by generated_at desc, qa_id
    ) = 1

),

inputs as (

    select
        'ins:' || id as qa_id,
        'instructions' as domain,
        id as source_row_id,
        cast(null as varchar) as translation_id,
        cast(null as varchar) as news_qa_id,
        hash('original', kept_instructions) as input_hash,
    from kept_instructions

    union all

    select
        'ins:' || latest_translations.id || ':' || latest_translations.target_language,
        'instructions',
        latest_translations.id,
        latest_translations.translation_id,
        cast(null as varchar),
        -- the original's row too: the pair takes is_multi_turn from it
        hash('translation', latest_translations, kept_instructions),
    from latest_translations
    -- a translation counts only while its original is kept
    inner join kept_instructions on latest_translations.id = kept_instructions.id

    union all

    select
        'news:' || qa_id,
        'news',
        cast(null as varchar),
        cast(null as varchar),
        qa_id,
        hash('news', latest_news),
    from latest_news

)

select * from inputs
