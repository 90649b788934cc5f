-- The runner journals each finished request and moves the journal to Parquet at the end
-- of a batch; a crash between the two can write a row twice. Keep one row per call_id.
with

source as (

    select * from {{ source('llm', 'llm_calls') }}

),

deduplicated as (

    select *
    from source
    qualify row_number() over (partition by call_id order by ingested_at) = 1

),

renamed as (

    select
        call_id,
        row_id,
        stage,
        prompt_id,
        prompt_version,
        provider,
        model,
        provider || ':' || model as llm,
        cache_key,
        cached,
        status,
        reason as failure_reason,
        tokens_in,
        tokens_out,
        latency_s,
        cost_usd as run_cost_usd,
        attempts,
        run_id,
        ingested_at as finished_at,

    from deduplicated

)

select * from renamed
