-- The LLM quarantine: one row per request that produced no usable answer, with the tokens
-- its call used; is_transient marks reasons a plain rerun may cure.
-- Built after every model that calls an LLM (tag llm_stage), so this run's calls are in
-- (the staging view reads the raw journal, which those models append to while dbt runs):
{{ depends_on_llm_stages() }}
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
        -- the three rules of synthlake/llm/types.py (failure_kind): transient and
        -- configuration failures are not stored by the stages, the next run asks again
        case
            when failures.reason in (
                'rate_limited', 'server_error', 'timeout', 'connection_error',
                'provider_error', 'budget_exceeded', 'batch_pending'
            ) then 'transient'
            when failures.reason in ('unreachable', 'auth_error', 'model_not_found')
                then 'configuration'
            else 'content'
        end as failure_kind,
        failures.reason in (
            'rate_limited', 'server_error', 'timeout', 'connection_error',
            'provider_error', 'budget_exceeded', 'batch_pending'
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
