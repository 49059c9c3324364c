from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "bellamy.realtime"
    label = "realtime"
