-- One MongoDB document per news QA pair (collection `news_qa`, export/mongo.py). Every column
-- is a document field, so the field list and types live here, in `typed`, and nowhere else.
-- The pair, its sources and similarities come from news_qa; toxicity and the judge's scores
-- from qa_pairs (the same pair, one per cluster: the latest summary).
{% set dimensions = judge_dimensions() %}
with

summaries as (

    select * from {{ ref('news_qa') }}

),

scored_pairs as (

    select * from {{ ref('qa_pairs') }}
    where domain = 'news'

),

news_qa as (

    select
        summaries.cluster_id,
        summaries.source_article_ids as lineage_ids,
        list_max(list_transform(summaries.sources, lambda s: s.date)) as date,
        list_sort(list_distinct(flatten(list_transform(summaries.sources, lambda s: s.tags))))
            as tags,
        list_transform(
            summaries.sources,
            lambda s: {
                'id': s.article_id,
                'title': s.title,
                'link': s.link,
                'date': s.date,
                'content': s.content,
                'tags': s.tags,
                'source_site': s.outlet,
            }
        ) as sources,
        summaries.similarity,
        summaries.similarity_min,
        summaries.similarity_max,
        summaries.similarity_mean,
        summaries.similarity_std,
        summaries.hallucination_flag,
        summaries.question,
        summaries.answer,
        summaries.language,
        scored_pairs.toxicity,
        scored_pairs.severe_toxicity,
        scored_pairs.obscene,
        scored_pairs.identity_attack,
        scored_pairs.insult,
        scored_pairs.threat,
        scored_pairs.sexual_explicit,
        scored_pairs.toxicity_status,
        list_filter(
            [
                {% for dimension in dimensions %}
                {
                    'dimension': '{{ dimension }}',
                    'score': scored_pairs.{{ dimension }}_score,
                    'explanation': scored_pairs.{{ dimension }}_explanation,
                },
                {% endfor %}
            ],
            lambda j: j.score is not null
        ) as judge,
        scored_pairs.judge_llm as judge_model,
        scored_pairs.judge_prompt_versions as judge_prompt_version,
        scored_pairs.quality_drop_reason,
        summaries.prompt_id || '@' || summaries.prompt_version as prompt_version,
        summaries.llm as model,
    from summaries
    inner join scored_pairs
        on scored_pairs.qa_id = 'news:' || summaries.qa_id

),

typed as (

    select
        cast(cluster_id as varchar) as cluster_id,
        list_sort(cast(lineage_ids as varchar[])) as lineage_ids,
        cast(date as timestamptz) as date,
        cast(tags as varchar[]) as tags,
        cast(sources as struct(
            id varchar,
            title varchar,
            link varchar,
            date timestamptz,
            content varchar,
            tags varchar[],
            source_site varchar
        )[]) as sources,
        cast(similarity as double[]) as similarity,
        cast(similarity_min as double) as similarity_min,
        cast(similarity_max as double) as similarity_max,
        cast(similarity_mean as double) as similarity_mean,
        cast(similarity_std as double) as similarity_std,
        cast(hallucination_flag as boolean) as hallucination_flag,
        cast(question as varchar) as question,
        cast(answer as varchar) as answer,
        cast(language as varchar) as language,
        cast(toxicity as double) as toxicity,
        cast(severe_toxicity as double) as severe_toxicity,
        cast(obscene as double) as obscene,
        cast(identity_attack as double) as identity_attack,
        cast(insult as double) as insult,
        cast(threat as double) as threat,
        cast(sexual_explicit as double) as sexual_explicit,
        cast(toxicity_status as varchar) as toxicity_status,
        cast(judge as struct(dimension varchar, score double, explanation varchar)[]) as judge,
        cast(judge_model as varchar) as judge_model,
        cast(judge_prompt_version as varchar) as judge_prompt_version,
        cast(quality_drop_reason as varchar) as quality_drop_reason,
        cast(prompt_version as varchar) as prompt_version,
        cast(model as varchar) as model,
    from news_qa

),

documents as (

    select
        -- _id from lineage: the same set of source articles is the same document, whatever
        -- the cluster numbering or the prompt version of a rebuild
        left(
            sha256(concat_ws(chr(31), 'news_qa', array_to_string(lineage_ids, chr(31)))), 32
        ) as doc_id,
        *,
    from typed

)

select * from documents
