-- Base vs fine-tuned per evaluation run, language and domain: the share of answers in the
-- prompt's language (multilingual question), the judge's mean score, and for news the
-- length ratio and embedding similarity to the teacher's reference and to the sources
-- (distillation question). Deltas are tuned minus base.
with

results as (

    select * from {{ ref('stg_eval__results') }}

),

per_variant as (

    select
        eval_run_id,
        train_run_id,
        judge_threshold,
        base_model,
        language,
        domain,
        variant,
        count(*) as n_answers,
        avg(case when in_prompt_language then 1.0 when not in_prompt_language then 0.0 end)
            as in_language_share,
        count(in_prompt_language) as n_language_decided,
        avg(judge_score) as judge_mean,
        count(judge_score) as n_judged,
        avg(length_ratio) as length_ratio_mean,
        avg(sim_reference) as sim_reference_mean,
        avg(sim_sources_mean) as sim_sources_mean,

    from results
    group by all

),

compared as (

    select
        coalesce(base.eval_run_id, tuned.eval_run_id) as eval_run_id,
        coalesce(base.train_run_id, tuned.train_run_id) as train_run_id,
        coalesce(base.judge_threshold, tuned.judge_threshold) as judge_threshold,
        coalesce(base.base_model, tuned.base_model) as base_model,
        coalesce(base.language, tuned.language) as language,
        coalesce(base.domain, tuned.domain) as domain,
        coalesce(tuned.n_answers, base.n_answers) as n_rows,
        base.in_language_share as base_in_language_share,
        tuned.in_language_share as tuned_in_language_share,
        base.judge_mean as base_judge_mean,
        tuned.judge_mean as tuned_judge_mean,
        base.n_judged as base_n_judged,
        tuned.n_judged as tuned_n_judged,
        base.length_ratio_mean as base_length_ratio,
        tuned.length_ratio_mean as tuned_length_ratio,
        base.sim_reference_mean as base_sim_reference,
        tuned.sim_reference_mean as tuned_sim_reference,
        base.sim_sources_mean as base_sim_sources,
        tuned.sim_sources_mean as tuned_sim_sources,

    from (select * from per_variant where variant = 'base') as base
    full outer join (select * from per_variant where variant = 'tuned') as tuned
        on base.eval_run_id = tuned.eval_run_id
        and base.language = tuned.language
        and base.domain = tuned.domain

),

final as (

    select
        eval_run_id || ':' || language || ':' || domain as report_key,
        *,
        tuned_in_language_share - base_in_language_share as delta_in_language_share,
        tuned_judge_mean - base_judge_mean as delta_judge_mean,
        tuned_sim_reference - base_sim_reference as delta_sim_reference,

    from compared

)

select * from final
