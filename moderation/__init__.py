"""Moderation in one place (middle floor): the audit log (:mod:`moderation.models`), the
``moderators`` group and its permissions, the post / report / user moderation services
(:mod:`moderation.services`), the admin actions (:mod:`moderation.admin`) and
``manage.py setup_moderators``."""
