"""Analytics: daily activity statistics rolled up from the database and the event stream
(eventually consistent), shown to staff in the admin and at ``GET /api/analytics/daily``."""
