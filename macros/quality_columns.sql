{#- The judge dimensions that have a score column in qa_pairs (one per row of
    seeds/judge_dimensions.csv), and Detoxify's 7 labels: one list each, for every model
    that spreads them into columns. -#}
{% macro judge_dimensions() -%}
    {{ return(['accuracy', 'helpfulness', 'relevance', 'fluency', 'faithfulness']) }}
{%- endmacro %}

{% macro toxicity_labels() -%}
    {{ return([
        'toxicity', 'severe_toxicity', 'obscene', 'identity_attack', 'insult', 'threat',
        'sexual_explicit',
    ]) }}
{%- endmacro %}
