from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bellamy.accounts"
    label = "accounts"
