import pytest

from graphdiff.extras import EXTRAS, MissingExtraError, missing, require


def test_installed_extra_passes():
    require("plots")  # matplotlib is a core dependency of the figures


def test_missing_extra_names_the_install_line(monkeypatch):
    monkeypatch.setitem(EXTRAS, "phantom", EXTRAS["plots"].__class__(
        ("graphdiff_no_such_module",), "pip install graphdiff-phantom", "a phantom part"))
    assert missing("plots", "phantom") == ["phantom"]
    with pytest.raises(MissingExtraError) as err:
        require("plots", "phantom")
    msg = str(err.value)
    assert "pip install graphdiff-phantom" in msg and "graphdiff_no_such_module" in msg
    assert isinstance(err.value, ImportError)


def test_unknown_extra_is_a_key_error():
    with pytest.raises(KeyError, match="known"):
        require("crystal")
