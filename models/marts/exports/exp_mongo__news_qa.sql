-- One MongoDB document per news QA pair (collection `news_qa`, export/mongo.py). Every column
-- is a document field, so the field list and types live here, in `typed`, and nowhere else.
--
-- Until the `news_qa` mart and the scores exist, `news_qa` below yields no rows, with the
-- column names the mapping expects: the mart builds, its tests run, and the export creates
-- the collection, its validator and indexes, and writes nothing. To switch it on, replace
-- the body of the `news_qa` CTE with the real refs (news_qa joined to its scores), shaped to
-- these column names; `typed` and `documents` stay as they are.
with

news_qa as (

    select
        null as cluster_id,
        null as lineage_ids,       -- the source article ids
        null as date,              -- the newest source's publication time
        null as tags,
        null as sources,           -- {id, title, link, date, content, tags, source_site}
        null as similarity,        -- answer-vs-source similarity, aligned with `sources`
        null as similarity_min,
        null as similarity_max,
        null as similarity_mean,
        null as similarity_std,    -- the study's "variability"
        null as question,
        null as answer,
        null as language,
        null as toxicity,
        null as severe_toxicity,
        null as obscene,
        null as identity_attack,
        null as insult,
        null as threat,
        null as sexual_explicit,
        null as toxicity_status,
        null as judge,             -- one {dimension, score, explanation} per rubric dimension
        null as judge_model,
        null as judge_prompt_version,
        null as prompt_version,
        null as model,
    from {{ ref('stg_news__articles') }}
    where false

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
