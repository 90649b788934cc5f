-- exp_train__sft: an exported row (no exclude_reason) has a split, an excluded row none;
-- and all rows of one split_key (an original and its translations) share one split, so a
-- translation of a held-out eval pair is never trained on. Returns the offending rows.
with

rows as (

    select * from {{ ref('exp_train__sft') }}

),

split_mismatch as (

    select qa_id, 'split set iff exported' as problem
    from rows
    where (exclude_reason is null) <> (split is not null)

),

keys_in_several_splits as (

    select split_key as qa_id, 'split_key in several splits' as problem
    from rows
    where split is not null
    group by split_key
    having count(distinct split) > 1

)

select * from split_mismatch
union all
select * from keys_in_several_splits
