"""The news integration: duplicates, embeddings, story clusters, summaries, faithfulness.

The dbt Python models in ``python_models/news/`` are thin wrappers around these modules:

- ``dedup``: exact and near-duplicate articles (URL variants, content hashes, MinHash LSH);
- ``embed``: an article's vector (title + lead, or title + body chunks) with the shared
  embedder of ``synthlake.embeddings``;
- ``cluster``: agglomerative clustering on cosine distance within a time window, exact per
  connected component of the sparse similarity graph;
- ``summarize``: the integration prompt through the LLM runner, with a token budget and
  recursive, similarity-based splitting; ``validate`` refuses empty, echoed, looping or
  wrong-language summaries;
- ``faithfulness``: summary-to-source cosine similarities, their spread and the
  hallucination flag;
- ``labelled``: labelled story sets and pairwise precision/recall/ARI, for tuning.

Submodules are imported on use: the heavy ones pull in scikit-learn, datasketch or the LLM
layer, which dbt's parse and ``synthlake doctor`` do not need.
"""

from __future__ import annotations
