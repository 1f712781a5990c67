from __future__ import annotations

import pytest

from p2pcount.errors import ConfigError
from p2pcount.model.config import ModelConfig


def test_json_round_trip() -> None:
    config = ModelConfig(backbone="vgg16_bn", offset_scale=50, mean=(0.5, 0.5, 0.5))
    assert ModelConfig.from_json(config.to_json()) == config
    assert ModelConfig().offset_scale == 100.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backbone": "resnet50"}, "unknown backbone"),
        ({"num_anchors": 3}, "perfect square"),
        ({"stride": 16}, "stride 8"),
        ({"offset_scale": 0}, "positive"),
        ({"std": (1.0, 0.0, 1.0)}, "std"),
    ],
)
def test_invalid_configs_are_rejected(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**fields)


def test_from_json_rejects_unknown_fields_and_bad_json() -> None:
    with pytest.raises(ConfigError, match="unknown fields: colour"):
        ModelConfig.from_json('{"colour": 1}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelConfig.from_json("{")
