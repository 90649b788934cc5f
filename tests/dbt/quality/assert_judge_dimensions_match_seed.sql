-- The judge dimensions are defined by seeds/judge_dimensions.csv. qa_pairs and the exports
-- need them at compile time (one score column each), when dbt cannot read a table, so
-- judge_dimensions() (macros/quality_columns.sql) lists them too: this test fails, naming
-- the dimension, when the two lists drift apart.
with

seeded as (

    select dimension from {{ ref('judge_dimensions') }}

),

listed as (

    select unnest({{ judge_dimensions() }}) as dimension

),

drift as (

    select dimension, 'in the seed, missing from judge_dimensions()' as problem
    from seeded
    where dimension not in (select dimension from listed)
    union all
    select dimension, 'in judge_dimensions(), missing from the seed' as problem
    from listed
    where dimension not in (select dimension from seeded)

)

select * from drift
