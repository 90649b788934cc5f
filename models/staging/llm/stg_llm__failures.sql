-- Quarantined requests: no answer, or an answer that never validated. A journal replay
-- after a crash can write a row twice: keep one per failure_id.
with

source as (

    select * from {{ source('llm', 'llm_failures') }}

),

deduplicated as (

    select *
    from source
    qualify row_number() over (partition by failure_id order by ingested_at) = 1

),

renamed as (

    select
        failure_id,
        call_id,
        row_id,
        stage,
        prompt_id,
        prompt_version,
        provider,
        model,
        provider || ':' || model as llm,
        reason,
        detail,
        raw_text,
        attempts,
        run_id,
        ingested_at as failed_at,

    from deduplicated

)

select * from renamed
