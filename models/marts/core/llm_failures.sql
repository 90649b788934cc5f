-- The LLM quarantine: one row per request that produced no usable answer, with the tokens
-- its call used; is_transient marks reasons a plain rerun may cure.
with

failures as (

    select * from {{ ref('stg_llm__failures') }}

),

calls as (

    select * from {{ ref('stg_llm__calls') }}

),

joined as (

    select
        failures.failure_id,
        failures.call_id,
        failures.row_id,
        failures.stage,
        failures.prompt_id,
        failures.prompt_version,
        failures.provider,
        failures.model,
        failures.llm,
        failures.reason,
        failures.reason in (
            'rate_limited', 'server_error', 'timeout', 'connection_error', 'budget_exceeded'
        ) as is_transient,
        failures.detail,
        failures.raw_text,
        failures.attempts,
        calls.tokens_in,
        calls.tokens_out,
        failures.run_id,
        failures.failed_at,

    from failures
    left join calls
        on failures.call_id = calls.call_id

)

select * from joined
