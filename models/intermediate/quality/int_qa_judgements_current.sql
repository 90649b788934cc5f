-- One row per (QA pair, judge dimension) judged on the pair as it is now: a judgement
-- counts only while its qa_hash is the pair's (a pair whose text changed is judged again,
-- and until then its old judgement is left out). Every model that reads judgements reads
-- this one, with the pair's language and texts beside each judgement.
with

pairs as (

    select * from {{ ref('int_qa_pairs_unioned') }}

),

judgements as (

    select * from {{ ref('int_qa_judgements') }}

),

current_judgements as (

    select
        judgements.*,
        pairs.language,
        pairs.question,
        pairs.input,
        pairs.answer,
    from judgements
    inner join pairs
        on judgements.qa_id = pairs.qa_id
        and judgements.qa_hash = pairs.qa_hash

)

select * from current_judgements
