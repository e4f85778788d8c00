from __future__ import annotations

from unittest import mock

import factory
from django.contrib.auth.models import User

from ml.data import records_from_frame
from ml.sample import synthetic_applications
from scoring.models import ModelVersion, ScoreRequest
from scoring.services import score_requests
from scoring.services.score_requests import score_request_create, score_request_process


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"client{n}")
    password = factory.PostGenerationMethodCall("set_password", "password")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:  # noqa: N805 - factory_boy hook
        if create:
            obj.save()


def applicant_inputs(seed: int = 0, n: int = 1) -> list[dict]:
    """Valid API inputs for ``n`` synthetic applicants."""
    return records_from_frame(synthetic_applications(n, seed=seed, with_label=False))


def final_score_requests(model_version: ModelVersion, n: int, user=None) -> list[ScoreRequest]:
    """``n`` requests scored in this process by the worker's own service function.

    Nothing is published: a worker of the session (the API tests' one lives on) would otherwise take
    the same requests, against its own model folder, and race this process to finalise them."""
    done = []
    with mock.patch.object(score_requests.queues, "send", lambda *args, **options: None):
        for inputs in applicant_inputs(seed=n, n=n):
            request = score_request_create(inputs=inputs, requested_by=user, channel=ScoreRequest.Channel.API)
            done.append(score_request_process(score_request_id=str(request.pk)))
    return done
