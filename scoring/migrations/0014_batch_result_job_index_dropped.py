"""Bulk results lose the index of their own on ``job``: the unique (job, line) index serves every
lookup by job and the check when a job is deleted, and each bulk row has one index fewer to write.

Only the index is dropped: the foreign key stays as it is (Django's AlterField would drop it and add
it again, checking every stored row under lock)."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "scoring_batchresult_job_id_71cb5f51"


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0013_outcomes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "scoring_batchresult" ("job_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="batchresult",
                    name="job",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="results",
                        to="scoring.batchjob",
                    ),
                ),
            ],
        ),
    ]
