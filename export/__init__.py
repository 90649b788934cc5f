"""Export: the curated marts to files (``files.py``), to MongoDB (``mongo.py``) and as the
training dataset with its card (``training.py``); their Prefect flows are in ``flows.py``."""
