"""Bellamy Book on real public data (issue 11): importers of the three datasets in
``../shared/datasets/`` (:mod:`bellamy.demo.importers`), the live end-to-end phase
(:mod:`bellamy.demo.pipeline`) and the report that ``manage.py demo_run`` / ``make demo`` prints
(:mod:`bellamy.demo.report`). Plain modules, no models: the commands live in the apps whose
data they write (``posts_import_tweets``, ``graph_import_interactions``, ``demo_run``)."""
