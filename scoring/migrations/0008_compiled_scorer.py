from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scoring", "0007_score_request_final_notify")]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="scorer_path",
            field=models.CharField(
                blank=True,
                help_text="The compiled scorer every path scores with, relative to CREDITRISK_MODEL_DIR; empty for a "
                "version trained before it existed",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="scorer_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="reference_probability",
            field=models.FloatField(
                blank=True, help_text="The reference applicant's own probability of default", null=True
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="monotone",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Inputs with a monotone constraint: [name, -1] never raises the risk",
            ),
        ),
        migrations.AlterField(
            model_name="modelversion",
            name="reference_applicant",
            field=models.JSONField(default=dict, help_text="Typical approved applicant that reasons compare against"),
        ),
    ]
