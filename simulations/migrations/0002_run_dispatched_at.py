from django.db import migrations, models


def queued_runs_dispatched_when_created(apps, schema_editor):
    """Runs queued before this field existed were sent when created: the sweep may send them again."""
    SimulationRun = apps.get_model("simulations", "SimulationRun")
    SimulationRun.objects.filter(status="queued").update(dispatched_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("simulations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="simulationrun",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(queued_runs_dispatched_when_created, migrations.RunPython.noop),
    ]
