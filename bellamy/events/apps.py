from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "bellamy.events"
    label = "events"
