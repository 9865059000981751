"""``StageSecrets``: the stage's one AWS Secrets Manager secret — the single place its credentials live.

The secret holds a JSON object keyed by the runtime's environment variable names (``runtime.constants``)::

    {"DATABASE_URL": <pooled>, "DATABASE_URL_UNPOOLED": <direct>, "SENTRY_DSN": <dsn>, "APP_SECRET": <random>}

so a migration job, an operator or a team function can load it as an environment as-is. The app secret is
generated here (``random.RandomPassword``, 48 letters and digits). Every value stays a Pulumi secret from
birth to the secret version (``Output.secret`` around ``Output.json_dumps``); the component's only plain
outputs are the secret's ARN and name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from runtime.constants import APP_SECRET, DATABASE_URL, DATABASE_URL_UNPOOLED, SENTRY_DSN

COMPONENT_TYPE: Final = "ballast:secrets:StageSecrets"
APP_SECRET_LENGTH: Final = 48  # ≥ 32 characters; letters and digits only, safe in URLs and headers


@dataclass(frozen=True)
class StageSecretsArgs:
    """The stage's credentials (each a secret Output) and how the secret is kept.

    - ``recovery_window_days``: 0 deletes at once (previews: a re-created ``pr-<n>`` may reuse the name);
      7 to 30 keep a deleted secret recoverable (production).

    Protection comes with the component's options (``ResourceOptions(protect=True)``): the secret, its
    version and the app secret inherit it (a replaced app secret invalidates everything signed with it).
    """

    stage: str
    pooled_url: pulumi.Input[str]
    direct_url: pulumi.Input[str]
    sentry_dsn: pulumi.Input[str]
    recovery_window_days: int = 7
    kms_key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class StageSecrets(pulumi.ComponentResource):
    """``ballast:secrets:StageSecrets``; outputs ``secret_arn``, ``secret_name`` and ``app_secret`` (secret).

    Children are reachable as ``app_secret_password``, ``secret`` and ``version``.
    """

    secret_arn: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    app_secret: pulumi.Output[str]

    def __init__(self, name: str, args: StageSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        kept = pulumi.ResourceOptions(parent=self)
        self.app_secret_password = random.RandomPassword(
            f"{name}-app-secret",
            length=APP_SECRET_LENGTH,
            special=False,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=kept,
        )
        self.app_secret = pulumi.Output.secret(self.app_secret_password.result)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name_prefix=f"ballast/{args.stage}/",
            description=f"Ballast {args.stage}: database URLs, Sentry DSN and app secret (JSON)",
            recovery_window_in_days=args.recovery_window_days,
            kms_key_id=args.kms_key_id,
            tags={"ballast:stage": args.stage, **args.tags},
            opts=kept,
        )
        payload: pulumi.Output[str] = pulumi.Output.json_dumps(
            {
                DATABASE_URL: pulumi.Output.secret(args.pooled_url),
                DATABASE_URL_UNPOOLED: pulumi.Output.secret(args.direct_url),
                SENTRY_DSN: pulumi.Output.secret(args.sentry_dsn),
                APP_SECRET: self.app_secret,
            }
        )
        secret_payload: pulumi.Output[str] = pulumi.Output.secret(payload)
        self.version = aws.secretsmanager.SecretVersion(
            f"{name}-version",
            secret_id=self.secret.id,
            secret_string=secret_payload,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.secret_arn = self.secret.arn
        self.secret_name = self.secret.name
        self.register_outputs(
            {"secret_arn": self.secret_arn, "secret_name": self.secret_name, "app_secret": self.app_secret}
        )
