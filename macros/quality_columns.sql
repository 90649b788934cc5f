{#- The judge dimensions that have a score column in qa_pairs (one per row of
    seeds/judge_dimensions.csv), and Detoxify's 7 labels: one list each, for every model
    that spreads them into columns. Columns are fixed when a model compiles, when dbt cannot
    read the seed (run_query needs the table built, and `dbt compile`/`dbt ls` on a fresh
    lake has none), so the seed's names are repeated here; the singular test
    tests/dbt/quality/assert_judge_dimensions_match_seed.sql fails when the two drift. -#}
{% macro judge_dimensions() -%}
    {{ return(['accuracy', 'helpfulness', 'relevance', 'fluency', 'faithfulness']) }}
{%- endmacro %}

{% macro toxicity_labels() -%}
    {{ return([
        'toxicity', 'severe_toxicity', 'obscene', 'identity_attack', 'insult', 'threat',
        'sexual_explicit',
    ]) }}
{%- endmacro %}
