from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scoring", "0011_chunk_progress")]

    operations = [
        migrations.AddField(
            model_name="scorerequest",
            name="claimed_by",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The worker that took it last (its heartbeat hostname)",
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="batchchunk",
            name="claimed_by",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The worker scoring it (its heartbeat hostname); empty once released",
                max_length=200,
            ),
        ),
    ]
