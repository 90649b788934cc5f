-- event_at is the publication time: null exactly when published_at is null (never the
-- ingestion time standing in for it), and event_at_missing says so.
select *
from {{ ref('int_news_articles_deduplicated') }}
where event_at is distinct from published_at
    or event_at_missing is distinct from (published_at is null)
