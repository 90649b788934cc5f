-- An evaluation run writes its rows once; a rerun with the same eval_run_id (a resumed
-- sweep) writes them again. Keep the latest row per eval_id.
with

source as (

    select * from {{ source('eval', 'eval_results') }}

),

deduplicated as (

    select *
    from source
    qualify row_number() over (partition by eval_id order by evaluated_at desc) = 1

),

renamed as (

    select
        eval_id,
        eval_run_id,
        train_run_id,
        variant,
        base_model,
        threshold as judge_threshold,
        snapshot_id,
        row_id,
        language,
        domain,
        source_dataset,
        prompt,
        answer,
        reference,
        generation_status,
        tokens_out,
        answer_language,
        in_prompt_language,
        judge_score,
        judge_status,
        judge_dimensions,
        answer_words,
        reference_words,
        length_ratio,
        sim_reference,
        sim_sources_mean,
        sim_sources_min,
        evaluated_at,

    from deduplicated

)

select * from renamed
