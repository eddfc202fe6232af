import base64

import pytest

from connector.auth import ROLE, identity_for
from connector.errors import Unauthorized
from connector.http import Headers
from tests.helpers import basic_auth


def test_basic_auth_carries_the_key_pair() -> None:
    identity = identity_for(Headers({"Authorization": basic_auth("AKID", "s3cr:et")}), sigv4=False)
    assert (identity.access_key_id, identity.secret_access_key) == ("AKID", "s3cr:et")


def test_the_secret_never_shows_in_the_identity_text() -> None:
    identity = identity_for(Headers({"authorization": basic_auth("AKID", "topsecret")}), sigv4=False)
    assert "topsecret" not in repr(identity) and "topsecret" not in str(identity)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-only").decode(),
        "Basic " + base64.b64encode(b"key-only:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_missing_or_malformed_basic_auth_is_401_with_a_challenge(header: str | None) -> None:
    headers = Headers({} if header is None else {"Authorization": header})
    with pytest.raises(Unauthorized) as caught:
        identity_for(headers, sigv4=False)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Basic")


def test_sigv4_mode_uses_the_role_whatever_the_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert identity_for(Headers({}), sigv4=True) is ROLE
    assert identity_for(Headers({"Authorization": basic_auth("A", "B")}), sigv4=True) is ROLE
