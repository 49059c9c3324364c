"""Bellamy Book on real public data (issue 11), on the top floor: importers of the three
datasets in ``../shared/datasets/`` (:mod:`demo.importers`), the live end-to-end phase
(:mod:`demo.pipeline`) and the report that ``manage.py demo_run`` / ``make demo`` prints
(:mod:`demo.report`). No models. Its commands (``demo_run``, ``posts_import_tweets``,
``graph_import_interactions``) live in ``demo/management/commands/``: they carry the datasets'
mappings and write across domains, and no domain imports the demo (README "Architecture")."""
