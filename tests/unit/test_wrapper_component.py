"""The component's own small steps: the CA bundle file and what `requests` gets as `verify`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keboola_wrapper.component import _verify, ca_bundle_file
from keboola_wrapper.configuration import Config, ConfigError

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"


def config(**changes) -> Config:
    return Config(url="https://x.daktela.com", username="u", password="p", **changes)


def test_pem_text_goes_to_a_private_file_removed_after_the_run():
    with ca_bundle_file(config(ca_bundle=PEM)) as path:
        assert path is not None
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert Path(path).read_text(encoding="utf-8") == PEM + "\n"
        assert _verify(config(ca_bundle=PEM), path) == path
    assert not os.path.exists(path)


def test_a_path_is_used_as_it_is_and_must_exist(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text(PEM)
    with ca_bundle_file(config(ca_bundle=str(bundle))) as path:
        assert path == str(bundle)
    assert bundle.exists()
    with pytest.raises(ConfigError, match="neither PEM text"), ca_bundle_file(config(ca_bundle="/nope/ca.pem")):
        pass


def test_no_bundle_or_no_check():
    with ca_bundle_file(config()) as path:
        assert path is None and _verify(config(), path) is True
    with ca_bundle_file(config(ca_bundle=PEM, verify_ssl=False)) as path:
        assert path is None and _verify(config(verify_ssl=False), path) is False
