"""A copy of the post's ``created_at`` on each hashtag link, and the index that lists a
hashtag's posts newest first page by page (keyset on ``(created_at, post_id)``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("posts", "0004_delete_moderationaction")]

    operations = [
        migrations.AddField(model_name="posthashtag", name="created_at", field=models.DateTimeField(null=True)),
        migrations.RunSQL(
            "UPDATE posts_posthashtag SET created_at = posts_post.created_at"
            " FROM posts_post WHERE posts_post.id = posts_posthashtag.post_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(model_name="posthashtag", name="created_at", field=models.DateTimeField()),
        migrations.AddIndex(
            model_name="posthashtag",
            index=models.Index(fields=["hashtag", "-created_at", "-post"], name="posts_posthashtag_listing"),
        ),
    ]
