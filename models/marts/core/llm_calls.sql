-- Every LLM call with its estimated cost from the price seed (exact model first, then the
-- provider's '*' row). A cache hit was paid for by an earlier run: it costs 0 here.
-- Built after every model that calls an LLM (tag llm_stage), so this run's calls are in
-- (the staging view reads the raw journal, which those models append to while dbt runs):
{{ depends_on_llm_stages() }}
with

calls as (

    select * from {{ ref('stg_llm__calls') }}

),

prices as (

    select * from {{ ref('llm_prices') }}

),

priced as (

    select
        calls.*,
        coalesce(
            exact_price.usd_per_1m_input_tokens, provider_price.usd_per_1m_input_tokens
        ) as usd_per_1m_input_tokens,
        coalesce(
            exact_price.usd_per_1m_output_tokens, provider_price.usd_per_1m_output_tokens
        ) as usd_per_1m_output_tokens,

    from calls
    left join prices as exact_price
        on calls.provider = exact_price.provider
        and calls.model = exact_price.model
    left join prices as provider_price
        on calls.provider = provider_price.provider
        and provider_price.model = '*'

),

costed as (

    select
        *,
        usd_per_1m_input_tokens is not null as is_priced,
        (
            tokens_in * usd_per_1m_input_tokens
            + tokens_out * usd_per_1m_output_tokens
        ) / 1000000.0 as list_cost_usd,

    from priced

),

final as (

    select
        call_id,
        row_id,
        stage,
        prompt_id,
        prompt_version,
        provider,
        model,
        llm,
        cache_key,
        cached,
        status,
        failure_reason,
        tokens_in,
        tokens_out,
        latency_s,
        attempts,
        is_priced,
        usd_per_1m_input_tokens,
        usd_per_1m_output_tokens,
        list_cost_usd,
        case when cached then 0.0 else list_cost_usd end as cost_usd,
        run_cost_usd,
        run_id,
        finished_at,

    from costed

)

select * from final
