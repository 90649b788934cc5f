{#- The models that call an LLM (tag `llm_stage`) must be built before llm_calls and
    llm_failures: those read the raw journal the LLM models append to while dbt runs.

    dbt finds a model's dependencies while it parses, when `graph` is still empty, so the
    refs cannot be read from the graph itself: the list is here, once, and at execution
    time (the graph complete) every model tagged `llm_stage` must be in it, else the build
    stops naming the model to add. A new LLM model: tag it `llm_stage` in its
    `dbt.config(...)` and add its name below. -#}
{% macro llm_stage_models() -%}
    {{ return(['int_instructions_translated', 'int_news_summaries_generated', 'int_qa_judgements']) }}
{%- endmacro %}

{% macro depends_on_llm_stages() -%}
    {%- for name in llm_stage_models() %}
-- depends_on: {{ ref(name) }}
    {%- endfor %}
    {%- if execute %}
        {%- set listed = llm_stage_models() %}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' %}
            {%- if 'llm_stage' in node.tags and node.name not in listed %}
                {{- exceptions.raise_compiler_error(
                    "model " ~ node.name ~ " is tagged llm_stage but is not in "
                    ~ "llm_stage_models() (macros/llm_stages.sql): add it there, so that "
                    ~ "llm_calls and llm_failures are built after it"
                ) }}
            {%- endif %}
            {%- if node.name in listed and 'llm_stage' not in node.tags %}
                {{- exceptions.raise_compiler_error(
                    "model " ~ node.name ~ " is listed in llm_stage_models() "
                    ~ "(macros/llm_stages.sql) but not tagged llm_stage: tag it in its "
                    ~ "dbt.config(tags=['llm_stage']), or remove it from the list"
                ) }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
