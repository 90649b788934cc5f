-- How close news summaries stay to their sources: the distribution of the summary-source
-- similarity of each news QA pair (its mean over the sources, its spread = standard
-- deviation, and its minimum), in 0.1-wide buckets over [-1, 1], with the pairs flagged as
-- hallucinations (SYNTHLAKE_NEWS_HALLUCINATION_*) and the faithfulness judge score. Only
-- buckets holding a pair are listed.
with

pairs as (

    select * from {{ ref('qa_pairs') }}

),

news_pairs as (

    select * from pairs where domain = 'news'

),

measures as (

    select qa_id, 'similarity_mean' as measure, similarity_mean as value,
        hallucination_flag, faithfulness_score
    from news_pairs
    union all
    select qa_id, 'similarity_std', similarity_std, hallucination_flag, faithfulness_score
    from news_pairs
    union all
    select qa_id, 'similarity_min', similarity_min, hallucination_flag, faithfulness_score
    from news_pairs

),

bucketed as (

    select
        *,
        -- bucket b holds [b/10, (b+1)/10); 1.0 goes to the last bucket
        least(cast(floor(value * 10) as integer), 9) as bucket,
    from measures
    where value is not null

),

counted as (

    select
        measure,
        bucket,
        count(*) as n_pairs,
        count(*) filter (where hallucination_flag) as n_flagged,
        avg(faithfulness_score) as mean_faithfulness_score,
    from bucketed
    group by measure, bucket

),

final as (

    select
        measure || ':' || cast(bucket as varchar) as faithfulness_key,
        measure,
        bucket / 10.0 as bucket_lower,
        (bucket + 1) / 10.0 as bucket_upper,
        n_pairs,
        n_flagged,
        n_flagged / nullif(n_pairs, 0) as flagged_share,
        n_pairs / nullif(sum(n_pairs) over (partition by measure), 0) as share_of_pairs,
        mean_faithfulness_score,
    from counted

)

select * from final
